/**
 * Config errors as values, and their wording. Secret values never reach the text: a secret key's
 * value is shown as `(hidden)`.
 */

/** One problem with the configuration, at one key. */
export interface ConfigIssue {
  /** Dotted key path (`models.chat.parallel`, `files.allowedHosts[0]`), or what the problem is about (`yaml`, `HEARTH_CONFIG`). */
  key: string;
  /** What was written, quoted; `(hidden)` for secrets; absent when the key was not set. */
  given?: string;
  /** What the key takes, in words. */
  expected: string;
  /** How to fix it, when there is more to say than `expected`. */
  hint?: string;
  /** The whole sentence, key first. */
  message: string;
}

/** Why the configuration could not be loaded: the first issue's fields, the file, and every issue found. */
export interface ConfigError extends ConfigIssue {
  /** The config file (absolute), or null when there was none. */
  file: string | null;
  /** All issues found, the first one included; each becomes its own line. */
  issues: ConfigIssue[];
}

const SECRET_KEY = /(token|secret|password)$/i;

/** True for keys whose values are credentials (`token`, `botToken`, `signingSecret`, …). */
export function isSecretKey(key: string): boolean {
  const last = key.split('.').pop() ?? key;
  return SECRET_KEY.test(last.replace(/\[\d+\]$/, ''));
}

/** How a value that was written is shown in an error: quoted and shortened, or `(hidden)` under a secret key. */
export function describeGiven(key: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (isSecretKey(key)) return '(hidden)';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (value === null) return 'null (an empty value)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

/** Builds an issue; `message` defaults to "key: expected X, got Y. hint". */
export function configIssue(fields: { key: string; expected: string; given?: string | undefined; hint?: string | undefined; message?: string }): ConfigIssue {
  const { key, expected, given, hint } = fields;
  const base = given === undefined ? `${key}: expected ${expected}, but it is not set.` : `${key}: expected ${expected}, got ${given}.`;
  const issue: ConfigIssue = { key, expected, message: fields.message ?? (hint ? `${base} ${hint}` : base) };
  if (given !== undefined) issue.given = given;
  if (hint !== undefined) issue.hint = hint;
  return issue;
}

/** Wraps issues (at least one) into the error `loadConfig` returns. */
export function configError(file: string | null, issues: [ConfigIssue, ...ConfigIssue[]]): ConfigError {
  return { ...issues[0], file, issues };
}

/** One line per issue: `config error in <file>: <key>: expected <expected>, got <given>. <hint>`. */
export function formatConfigError(e: ConfigError): string {
  const where = e.file ?? '(no config file)';
  const issues = e.issues.length > 0 ? e.issues : [e];
  return issues.map((i) => `config error in ${where}: ${i.message}`).join('\n');
}
