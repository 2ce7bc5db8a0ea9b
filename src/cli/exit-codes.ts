/** hearth's exit codes: documented in `hearth --help` and the README. */
export const EXIT = {
  ok: 0,
  /** Something failed while running (a platform refused to connect, a download failed). */
  failure: 1,
  /** The configuration is invalid: the message names the key. */
  config: 2,
  /** `hearth doctor` found a problem. */
  doctorProblems: 3,
  /** Unknown command or option. */
  usage: 64,
} as const;
