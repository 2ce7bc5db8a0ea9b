/**
 * The vocabulary of expected failures: one list of codes, the facts each code carries, the error that
 * carries them across async seams, and the one conversion from anything thrown.
 *
 * Codes are for failures and refusals only. A state that is not a failure (a job cancelled, an answer
 * started over after a restart) has its own name in the job's events and view, never a code here.
 *
 * Facts are JSON (they cross the worker process boundary and are kept in SQLite with the job), typed per
 * code so whoever words them reads them typed, and whoever makes them is checked by the compiler.
 */
import type { JobKind, Json } from './types.js';

/**
 * Every code, in one place: the `ErrorCode` type and the worker protocol's run-time check both come
 * from this list, so they cannot drift apart.
 */
export const ERROR_CODES = [
  'QUEUE_FULL',
  'DAILY_LIMIT',
  'INVALID_INPUT',
  'PROMPT_TOO_LONG',
  'MODEL_MISSING',
  'MODEL_INVALID',
  'MODEL_TOO_LARGE',
  'WORKER_CRASHED',
  'RUNNER_FAILED',
  'ABORTED',
  'TIMED_OUT',
  'NOT_FOUND',
  'ALREADY_ENDED',
  'FORBIDDEN',
  'SHUTTING_DOWN',
  'IMAGE_INVALID',
  'IMAGE_TOO_LARGE',
  'DOWNLOAD_FAILED',
  'HOST_NOT_ALLOWED',
] as const;

/** Codes of the expected failures. Adapters turn them into words; `facts` carries what was given and allowed. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** A job's state once it has ended. */
export type EndedState = 'done' | 'failed' | 'cancelled';

/** Where a model (or one of its files) is, and what was wrong with it: for the admin's log and `hearth doctor`. */
type ModelFacts = {
  /** The model id as the config names it. */
  model?: string;
  kind?: JobKind;
  path?: string;
  dir?: string;
  file?: string;
  key?: string;
  uri?: string;
  device?: string;
  expected?: Json;
  found?: Json;
  given?: Json;
  allowed?: Json;
  supported?: string[];
  reason?: string;
  /** Times loading it took the worker down. */
  crashes?: number;
  /** Caption folders: the model_type read, and the files looked for. */
  modelType?: string;
  lookedFor?: string[];
  /** Sizes read from a GGUF header, and a fit check's numbers (bytes). */
  expectedBytes?: number;
  fileSize?: number;
  embd?: number;
  heads?: number;
  gpuLayers?: number;
  estimatedBytes?: number;
  budgetBytes?: number;
};

/** What was refused: the option or config key, the value given, and what is allowed. */
type RefusedFacts = {
  /** A command's option as its payload spells it (`steps`, `messages[2].role`). */
  option?: string;
  /** A config key (`slack.appToken`) or a call's argument. */
  key?: string;
  /** A runner's setting or option name (`steps`, `threads`). */
  field?: string;
  given?: Json;
  allowed?: Json;
  expected?: Json;
  min?: number;
  max?: number;
  jobId?: string;
  kind?: JobKind;
  model?: string;
  url?: string;
  family?: string;
  question?: string;
  scheduler?: string;
  file?: string;
  uri?: string;
  /** A caption payload's image file. */
  imagePath?: string;
  /** A refused worker message: what came, and the ops there are. */
  received?: string;
  ops?: string[];
  /** Arguments of the store's calls, named as the call names them (a caller's bug, not a user's). */
  state?: string;
  userId?: string;
  vtime?: number;
  now?: number;
  weight?: number;
  limit?: number;
  estimateSeconds?: number;
  gpuSeconds?: number;
  bucketMs?: number;
  busyTimeoutMs?: number;
  path?: string;
  schemaVersion?: number;
  supported?: number;
};

/** A limit that was reached: how many (or how much) it would be, and the most there may be. */
type LimitFacts = { given: number; allowed: number };

/**
 * The facts of each code. Every code has an entry (the mapped checks below stop compiling otherwise);
 * a code whose entry has required keys must be made with its facts.
 */
export type ErrorFacts = {
  /** `given` counts the job asked for (active + 1); `scope: 'console'` when the console's shared cap refused it. */
  QUEUE_FULL: LimitFacts & { scope?: 'user' | 'console' };
  /** GPU-seconds used today and the daily allowance. */
  DAILY_LIMIT: LimitFacts;
  INVALID_INPUT: RefusedFacts;
  /** Characters (commands) or tokens (the chat runner) given and allowed. */
  PROMPT_TOO_LONG: LimitFacts & { option?: string };
  /** `given` is the model asked for, `allowed` the ones there are; file facts for a model not on disk. */
  MODEL_MISSING: ModelFacts;
  MODEL_INVALID: ModelFacts;
  MODEL_TOO_LARGE: ModelFacts;
  /**
   * `crashes`: times this job took the worker down; `cause`: how it went down (`exit` with its exit
   * code or signal, or `protocol` when it broke the protocol and was killed).
   */
  WORKER_CRASHED: {
    crashes?: number;
    reason?: string;
    cause?: 'exit' | 'protocol';
    code?: number | null;
    signal?: string | null;
  };
  /** An unexpected failure; the facts say where, for the admin (the user only reads that it failed). */
  RUNNER_FAILED: {
    model?: string;
    kind?: JobKind;
    jobId?: string;
    /** False when the model is not loaded; `loadError` then says why (its last load's failure). */
    loaded?: boolean;
    loadError?: { code: ErrorCode; message: string };
    given?: Json;
    found?: string;
    reason?: string;
    file?: string;
    device?: string;
    gpu?: string;
    providers?: string[];
    bindingDir?: string | null;
    hint?: string;
    parallel?: number;
    max?: number;
    exitCode?: number;
  };
  /** Stopped by an abort that was not a cancel (a cancelled job ends `cancelled`, with no code). */
  ABORTED: { reason?: string };
  /** Stopped because it took longer than it may. */
  TIMED_OUT: { reason?: string };
  /** `given`: the id or name that matched nothing. */
  NOT_FOUND: { given?: string; jobId?: string; model?: string };
  /**
   * A job that cannot be acted on (cancelled, amended) because it has ended: how it ended.
   * `deliveredAt` (epoch ms) when its origin was refused because its end was already delivered.
   */
  ALREADY_ENDED: { jobId: string; kind: JobKind; state: EndedState; deliveredAt?: number };
  FORBIDDEN: { given?: string };
  /** Refused because hearth is stopping; `model`/`kind` when a disposed runner refused. */
  SHUTTING_DOWN: { model?: string; kind?: JobKind };
  IMAGE_INVALID: {
    given?: Json;
    allowed?: Json;
    option?: string;
    detectedType?: string;
    declaredType?: string;
    allowedTypes?: string[];
    givenBytes?: number;
    width?: number;
    height?: number;
    channels?: number;
    reason?: string;
  };
  /** `given`/`allowed` in bytes; decoders say which measure (bytes, pixels) in the names. */
  IMAGE_TOO_LARGE: {
    given?: number;
    allowed?: number;
    option?: string;
    givenBytes?: number;
    allowedBytes?: number;
    declaredBytes?: number;
    receivedBytes?: number;
    givenPixels?: number;
    allowedPixels?: number;
    width?: number;
    height?: number;
    reason?: string;
  };
  DOWNLOAD_FAILED: {
    uri?: string;
    url?: string;
    file?: string;
    dirPath?: string;
    host?: string;
    hop?: number;
    status?: number;
    reason?: string;
    found?: string;
    /** The network error's own words. */
    error?: string;
    timeoutMs?: number;
    maxRedirects?: number;
  };
  /** The host (no port) refused and the hosts allowed, at which redirect hop. */
  HOST_NOT_ALLOWED: { host?: string; allowedHosts?: string[]; hop?: number; given?: string; protocol?: string };
};

/** The facts of one code. */
export type FactsOf<C extends ErrorCode> = ErrorFacts[C];

/** True when a code's facts may be left out (none of its keys is required). */
type FactsOptional<C extends ErrorCode> = object extends ErrorFacts[C] ? true : false;

/** An expected failure of one code, as a value. */
export type ErrorInfoOf<C extends ErrorCode> = {
  code: C;
  /** Plain words for logs and as a fallback; adapters word it their own way from code + facts. */
  message: string;
} & (FactsOptional<C> extends true ? { facts?: ErrorFacts[C] } : { facts: ErrorFacts[C] });

/** An expected failure as a value: a union discriminated on `code`, so `facts` is typed once the code is known. */
export type ErrorInfo = { [C in ErrorCode]: ErrorInfoOf<C> }[ErrorCode];

/** A JSON object: what every code's facts must be. */
type JsonObject = { [key: string]: Json };
// Facts cross a process boundary and SQLite: each code's facts must be JSON. This stops compiling
// when a code's facts type holds something that is not (a Date, a Uint8Array, undefined in a value).
const _factsAreJson: { [C in ErrorCode]: ErrorFacts[C] extends JsonObject ? true : never } = {} as {
  [C in ErrorCode]: true;
};
void _factsAreJson;

/** The arguments after the message: the facts, required when the code has required facts. */
type FactsArgs<C extends ErrorCode> = FactsOptional<C> extends true ? [facts?: ErrorFacts[C]] : [facts: ErrorFacts[C]];

/** An error that carries an {@link ErrorInfo}; thrown across async seams, turned back into a value at the edges. */
export class HearthError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  readonly facts: ErrorFacts[C];
  constructor(code: C, message: string, ...[facts]: FactsArgs<C>) {
    super(message);
    this.name = 'HearthError';
    this.code = code;
    // Only codes whose facts are all optional may leave them out (FactsArgs), so `{}` fits them.
    this.facts = facts ?? ({} as ErrorFacts[C]);
  }

  /** True (and typed) when this error has that code. */
  is<K extends ErrorCode>(code: K): this is HearthError<K> {
    return (this.code as ErrorCode) === code;
  }

  toInfo(): ErrorInfo {
    // The constructor pairs `code` with that code's facts, so this is the member of the union for C.
    return { code: this.code, message: this.message, facts: this.facts } as ErrorInfo;
  }

  static from<I extends ErrorInfo>(info: I): HearthError<I['code']> {
    const facts = (info.facts ?? {}) as ErrorFacts[I['code']];
    return new HearthError<I['code']>(info.code, info.message, ...([facts] as FactsArgs<I['code']>));
  }
}

/**
 * An error value of one code, its facts checked against that code's: for helpers that are handed the
 * code (`fault(code, message, facts)` with `C` generic still pairs them right at each call site).
 */
export function fault<C extends ErrorCode>(code: C, message: string, facts: ErrorFacts[C]): ErrorInfo {
  // `{ code: C; facts: ErrorFacts[C] }` is the union's member for C; TypeScript cannot see that for a generic C.
  return { code, message, facts } as unknown as ErrorInfo;
}

/** Options of {@link toErrorInfo}. */
export interface ToErrorInfoOptions {
  /** Where a foreign error came from, put before its message ("ONNX Runtime: …"); not for a HearthError. */
  source?: string;
}

/**
 * The one conversion from anything thrown to an error value:
 * - a {@link HearthError}: its own code and facts;
 * - an abort (`AbortError`) or a timeout (`TimeoutError`, as `AbortSignal.timeout` throws): ABORTED or
 *   TIMED_OUT, with the reason in words;
 * - anything else: RUNNER_FAILED with its message in plain words. Never the stack: the message may be
 *   shown and stored, and a stack says nothing to the person who asked.
 */
export function toErrorInfo(e: unknown, options: ToErrorInfoOptions = {}): ErrorInfo {
  if (e instanceof HearthError) return e.toInfo();
  const text = messageOf(e);
  const message = options.source ? `${options.source}: ${text}` : text;
  const name = e instanceof Error || e instanceof DOMException ? e.name : undefined;
  if (name === 'TimeoutError') return { code: 'TIMED_OUT', message, facts: { reason: text } };
  if (name === 'AbortError') return { code: 'ABORTED', message, facts: { reason: text } };
  return { code: 'RUNNER_FAILED', message };
}

/** A thrown value's message in plain words (no stack). */
export function messageOf(e: unknown): string {
  if (e instanceof Error || e instanceof DOMException) return e.message || e.name;
  if (typeof e === 'string') return e;
  try {
    return String(e);
  } catch {
    // An object whose toString throws (or a null-prototype object): say what kind of thing it was.
    return `a thrown ${typeof e}`;
  }
}
