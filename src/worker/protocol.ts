/**
 * The messages between the main process (parent, src/worker/child-process-executor.ts) and the GPU
 * worker process (child, src/worker/main.ts), one zod schema per message type. Sent with Node's
 * `advanced` serialization, so Uint8Array (PNG bytes) crosses without base64.
 *
 * The protocol lives with the parent side, as discord.js keeps its sharding protocol beside
 * WorkerShardingStrategy: the parent owns the contract and the worker entry implements it.
 *
 * Both ends check what they receive ({@link decodeFromWorker}, {@link decodeToWorker}): the worker
 * runs native model code and third-party libraries, so the main process treats whatever comes over
 * the channel as untrusted input, never as a typed value. Unknown keys are let through untouched
 * (a newer worker may add some), but a known field of the wrong type, an unknown message type or
 * an unknown value in an enum is a violation.
 */
import { inspect } from 'node:util';
import { z } from 'zod';
import type { ModelDescriptor } from '../engine/executor/executor.js';
import type { RunnerCounters, RunnerJob, StepOutput } from '../engine/runner.js';
import { ERROR_CODES, type ErrorCode, type ErrorInfo, type JobEvent, type JobResult, type Json } from '../engine/types.js';

// ── Building blocks ────────────────────────────────────────────────────────────────────────────

/**
 * True for a JSON value. An object property set to `undefined` is allowed (JSON.stringify drops it,
 * and structured clone keeps it), so a payload that would survive SQLite survives the channel too.
 */
function isJson(v: unknown, depth = 0): boolean {
  if (depth > 64) return false; // deeper than any payload; also stops a cycle
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (Array.isArray(v)) return v.every((x) => isJson(x, depth + 1));
  if (typeof v !== 'object' || Object.getPrototypeOf(v) !== Object.prototype) return false;
  return Object.values(v).every((x) => x === undefined || isJson(x, depth + 1));
}

function isJsonObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && isJson(v);
}

const json = z.custom<Json>((v) => isJson(v), { error: 'a JSON value' });
const jsonObject = z.custom<Record<string, Json>>(isJsonObject, { error: 'a JSON object' });
// Structured clone gives the receiving realm's Uint8Array (a Buffer arrives as one too).
const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, { error: 'bytes (a Uint8Array)' });
const callId = z.int().nonnegative();

const jobKind = z.enum(['chat', 'image', 'caption', 'embed']);

/** Facts with keys that are read: those keys by type, and the whole a JSON object like any facts. */
const typedFacts = <T extends z.ZodRawShape>(shape: T) => z.looseObject(shape).refine(isJsonObject, { error: 'a JSON object' });
const limitFacts = typedFacts({ given: z.number(), allowed: z.number() });

/**
 * Each code's facts as the parent checks them: the keys adapters read are checked by type (the facts
 * a refusal is worded from); the rest are for logs and the console, and are checked as JSON. Keyed by
 * every code (`satisfies`), so a new code does not compile until it is listed here.
 */
const factsByCode = {
  QUEUE_FULL: limitFacts,
  DAILY_LIMIT: limitFacts,
  PROMPT_TOO_LONG: limitFacts,
  ALREADY_ENDED: typedFacts({ jobId: z.string(), kind: jobKind, state: z.enum(['done', 'failed', 'cancelled']) }),
  INVALID_INPUT: jsonObject,
  MODEL_MISSING: jsonObject,
  MODEL_INVALID: jsonObject,
  MODEL_TOO_LARGE: jsonObject,
  WORKER_CRASHED: jsonObject,
  RUNNER_FAILED: jsonObject,
  ABORTED: jsonObject,
  TIMED_OUT: jsonObject,
  NOT_FOUND: jsonObject,
  FORBIDDEN: jsonObject,
  SHUTTING_DOWN: jsonObject,
  IMAGE_INVALID: jsonObject,
  IMAGE_TOO_LARGE: jsonObject,
  DOWNLOAD_FAILED: jsonObject,
  HOST_NOT_ALLOWED: jsonObject,
} satisfies Record<ErrorCode, z.ZodType>;

/** Codes whose facts are required (their type has required keys): the rest may come without facts. */
const FACTS_REQUIRED: ReadonlySet<ErrorCode> = new Set(['QUEUE_FULL', 'DAILY_LIMIT', 'PROMPT_TOO_LONG', 'ALREADY_ENDED']);

const [firstCode, ...otherCodes] = ERROR_CODES;
const errorVariant = (code: ErrorCode) =>
  z.looseObject({
    code: z.literal(code),
    message: z.string(),
    facts: FACTS_REQUIRED.has(code) ? factsByCode[code] : factsByCode[code].exactOptional(),
  });

/**
 * A runner's or the worker's error, as a HearthError carries it across the channel. The codes are
 * {@link ERROR_CODES}, the list `ErrorCode` is made from, so the check and the type cannot drift.
 */
// The variants check what adapters read and that the rest is JSON; zod cannot spell each code's full
// facts type (most keys are for logs), so the union is named as the type it stands for.
export const errorInfoSchema = z.discriminatedUnion('code', [
  errorVariant(firstCode),
  ...otherCodes.map(errorVariant),
]) as unknown as z.ZodType<ErrorInfo>;

const jobResultSchema: z.ZodType<JobResult> = z.looseObject({
  text: z.string().exactOptional(),
  stopped: z.boolean().exactOptional(),
  stopReason: z.enum(['cancelled', 'maxTokens', 'endOfTurn', 'done']).exactOptional(),
  image: z.looseObject({ png: bytes, width: z.number(), height: z.number() }).exactOptional(),
  meta: jsonObject.exactOptional(),
});

/** An event a step streams (the engine's JobEvent). */
export const jobEventSchema: z.ZodType<JobEvent> = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('queued'), position: z.number(), etaSeconds: z.number() }),
  z.looseObject({ type: z.literal('started'), attempt: z.number() }),
  z.looseObject({ type: z.literal('progress'), step: z.number(), of: z.number() }),
  z.looseObject({ type: z.literal('token'), text: z.string() }),
  z.looseObject({ type: z.literal('preview'), png: bytes, step: z.number() }),
  z.looseObject({ type: z.literal('result'), result: jobResultSchema }),
  z.looseObject({ type: z.literal('failed'), error: errorInfoSchema }),
  z.looseObject({ type: z.literal('cancelled'), partial: jobResultSchema.nullable(), by: z.string() }),
]);

const runnerJobSchema: z.ZodType<RunnerJob> = z.looseObject({
  id: z.string(),
  kind: jobKind,
  model: z.string(),
  userId: z.string(),
  payload: json,
});

const modelDescriptorSchema: z.ZodType<ModelDescriptor> = z.looseObject({
  model: z.string(),
  kind: jobKind,
  maxBatch: z.int().positive(),
  vramBytes: z.number().nonnegative(),
});

const stepOutputSchema: z.ZodType<StepOutput> = z.looseObject({
  jobId: z.string(),
  done: jobResultSchema.exactOptional(),
  failed: errorInfoSchema.exactOptional(),
  share: z.number().nonnegative().exactOptional(),
});

// ── Parent → worker ────────────────────────────────────────────────────────────────────────────

/** One schema per request the parent makes; the worker answers each with one `response`. */
export const requestSchemas = {
  describe: z.looseObject({ op: z.literal('describe') }),
  load: z.looseObject({ op: z.literal('load'), model: z.string() }),
  unload: z.looseObject({ op: z.literal('unload'), model: z.string() }),
  begin: z.looseObject({ op: z.literal('begin'), job: runnerJobSchema }),
  step: z.looseObject({ op: z.literal('step'), model: z.string(), jobIds: z.array(z.string()) }),
  end: z.looseObject({ op: z.literal('end'), model: z.string(), jobId: z.string() }),
  /** Aborts the call numbered `target` (its signal fired in the parent). */
  abort: z.looseObject({ op: z.literal('abort'), target: callId }),
};

/** The ops the worker serves, in the order the protocol lists them. */
export const OPS = Object.keys(requestSchemas) as Op[];

const s = requestSchemas;
const requestSchema = z.discriminatedUnion('op', [s.describe, s.load, s.unload, s.begin, s.step, s.end, s.abort]);
/** A call the parent makes. */
export type Request = z.infer<typeof requestSchema>;
/** The name of a call. */
export type Op = Request['op'];

/** What the worker answers each request with. */
export interface ResponseValues {
  describe: ModelDescriptor[];
  load: null;
  unload: null;
  begin: { steps: number };
  step: StepOutput[];
  end: null;
  abort: null;
}
/** Any op's answer (what the worker's handler returns). */
export type ResponseValue = ResponseValues[Op];

/** The schema of each op's answer, checked by the parent against the op it asked. */
export const responseValueSchemas: { [O in Op]: z.ZodType<ResponseValues[O]> } = {
  describe: z.array(modelDescriptorSchema),
  load: z.null(),
  unload: z.null(),
  begin: z.looseObject({ steps: z.number().nonnegative() }),
  step: z.array(stepOutputSchema),
  end: z.null(),
  abort: z.null(),
};

export interface WorkerInit {
  /** Module paths (file URLs or specifiers) whose default export is a RunnerFactory. */
  runnerModules: string[];
  /** Passed to every factory. */
  settings: Json;
}

/** One schema per message the parent sends. */
export const toWorkerSchemas = {
  /** The first message: which runner modules to import and their settings. Answered by `ready` or `init-failed`. */
  init: z.looseObject({
    type: z.literal('init'),
    init: z.looseObject({ runnerModules: z.array(z.string()), settings: json }),
  }),
  /** A call; `id` numbers it for the response and the events it streams. */
  request: z.looseObject({ type: z.literal('request'), id: callId, request: requestSchema }),
};
const toWorkerSchema = z.discriminatedUnion('type', [toWorkerSchemas.init, toWorkerSchemas.request]);
/** A message the parent sends. */
export type ToWorker = z.infer<typeof toWorkerSchema>;

// ── Worker → parent ────────────────────────────────────────────────────────────────────────────

const count = z.int().nonnegative();
/** A runner's counters (see RunnerCounters); a newer worker may add keys. */
const runnerCountersSchema: z.ZodType<RunnerCounters> = z.looseObject({
  conversationCache: z
    .looseObject({ hits: count, misses: count, evictions: count, reusedTokens: count, evaluatedTokens: count })
    .exactOptional(),
  draft: z.looseObject({ accepted: count, rejected: count }).exactOptional(),
});

/** One schema per message the worker sends. */
export const fromWorkerSchemas = {
  /** Init done: the runners are built. */
  ready: z.looseObject({ type: z.literal('ready') }),
  /** Init failed (a runner module missing or throwing); the parent kills the worker. */
  initFailed: z.looseObject({ type: z.literal('init-failed'), error: errorInfoSchema }),
  /** A call succeeded; `value` is checked against `responseValueSchemas[op]` of the call's op. */
  responseOk: z.looseObject({ type: z.literal('response'), id: callId, ok: z.literal(true), value: z.unknown() }),
  /** A call failed with the runner's error. */
  responseError: z.looseObject({ type: z.literal('response'), id: callId, ok: z.literal(false), error: errorInfoSchema }),
  /** An event streamed by a step (tokens, progress, previews), before the step's response. */
  event: z.looseObject({ type: z.literal('event'), id: callId, jobId: z.string(), event: jobEventSchema }),
  /** A line for the main process's log. */
  log: z.looseObject({ type: z.literal('log'), level: z.enum(['info', 'warn', 'error']), message: z.string() }),
  /** A runner's counters as they stand in this worker, sent after each of its steps (before the step's response). */
  counters: z.looseObject({ type: z.literal('counters'), model: z.string(), counters: runnerCountersSchema }),
};
const f = fromWorkerSchemas;
const fromWorkerSchema = z.discriminatedUnion('type', [
  f.ready,
  f.initFailed,
  z.discriminatedUnion('ok', [f.responseOk, f.responseError]),
  f.event,
  f.log,
  f.counters,
]);
/** A message the worker sends. */
export type FromWorker = z.infer<typeof fromWorkerSchema>;

// ── Checking ───────────────────────────────────────────────────────────────────────────────────

/** Why a message was refused, in words for a log line and as facts for an error. */
export interface ProtocolViolation {
  /** What the protocol asks for, e.g. `response.error: a JSON object with code, message`. */
  expected: string;
  /** What came, shortened. */
  received: string;
}

/** A message that fits the protocol, or why it does not. */
export type Decoded<T> = { ok: true; message: T } | { ok: false; violation: ProtocolViolation };

/** A short, single-line rendering of what came, for logs (never the whole PNG). */
export function show(value: unknown): string {
  const text = inspect(value, { depth: 4, breakLength: Infinity, maxArrayLength: 8, maxStringLength: 120, compact: true });
  return text.length > 400 ? `${text.slice(0, 400)}…` : text;
}

/** zod's issues in a line: `path: what it wanted`, the first few only. */
function describeIssues(error: z.ZodError, root: string): string {
  return error.issues
    .slice(0, 4)
    .map((i) => `${i.path.length > 0 ? i.path.map(String).join('.') : root}: ${i.message}`)
    .join('; ');
}

function decode<T>(schema: z.ZodType<T>, raw: unknown, kinds: string): Decoded<T> {
  const r = schema.safeParse(raw);
  if (r.success) return { ok: true, message: r.data };
  // Not an object at all (null, a string): say what a message looks like rather than zod's union noise.
  const expected = typeof raw === 'object' && raw !== null ? describeIssues(r.error, 'message') : `an object with a type (${kinds})`;
  return { ok: false, violation: { expected, received: show(raw) } };
}

const FROM_WORKER_TYPES = 'ready, init-failed, response, event, log, counters';
const TO_WORKER_TYPES = 'init, request';

/** The parent's check of what the worker sent. */
export function decodeFromWorker(raw: unknown): Decoded<FromWorker> {
  return decode(fromWorkerSchema, raw, FROM_WORKER_TYPES);
}

/** The worker's check of what the parent sent. */
export function decodeToWorker(raw: unknown): Decoded<ToWorker> {
  return decode(toWorkerSchema, raw, TO_WORKER_TYPES);
}

/** The parent's check of a successful response's value against the op it asked. */
export function decodeResponseValue<O extends Op>(op: O, value: unknown): Decoded<ResponseValues[O]> {
  const r = responseValueSchemas[op].safeParse(value);
  if (r.success) return { ok: true, message: r.data };
  return {
    ok: false,
    violation: { expected: `the value of a ${op} response: ${describeIssues(r.error, 'value')}`, received: show(value) },
  };
}

/**
 * The id of a request whose body was refused, so the worker can still answer that call (with an
 * error) instead of leaving the parent waiting. Undefined when not even the id can be read.
 */
export function requestIdOf(raw: unknown): number | undefined {
  const r = z.looseObject({ type: z.literal('request'), id: callId }).safeParse(raw);
  return r.success ? r.data.id : undefined;
}
