/**
 * What crosses Redis between the coordinator and the GPU workers, one zod schema per message, checked
 * on receipt (a worker is another host's process: what it writes is untrusted input, as the GPU
 * worker's IPC messages are in src/worker/protocol.ts, whose event, error and job checks are reused).
 *
 * Redis carries JSON, so bytes (PNG results and previews) travel as `{ "$b64": "…" }` and are turned
 * back into Uint8Array before the checks.
 */
import { z } from 'zod';
import type { ModelDescriptor } from '../engine/executor/executor.js';
import type { RunnerJob } from '../engine/runner.js';
import type { ErrorInfo, JobEvent, JobResult, Json } from '../engine/types.js';
import type { GpuTelemetry } from '../monitoring/gpu-monitor.js';
import { errorInfoSchema, jobEventSchema } from '../worker/protocol.js';

// ── Bytes as base64 ────────────────────────────────────────────────────────────────────────────

/** JSON with every Uint8Array (a PNG) turned into `{ $b64 }`. */
export function toWire(value: unknown): Json {
  if (value instanceof Uint8Array) return { $b64: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  if (Array.isArray(value)) return value.map(toWire);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toWire(v);
    return out;
  }
  if (typeof value === 'string' || typeof value === 'boolean' || value === null) return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  return null;
}

/** The reverse of {@link toWire}: `{ $b64 }` becomes a Uint8Array again (checks follow). */
export function fromWire(value: unknown, depth = 0): unknown {
  if (depth > 64) return value;
  if (Array.isArray(value)) return value.map((v) => fromWire(v, depth + 1));
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    const only = entries.length === 1 ? entries[0] : undefined;
    if (only && only[0] === '$b64' && typeof only[1] === 'string') return new Uint8Array(Buffer.from(only[1], 'base64'));
    const out: Record<string, unknown> = {};
    for (const [k, v] of entries) out[k] = fromWire(v, depth + 1);
    return out;
  }
  return value;
}

// ── Worker → Redis: the heartbeat ──────────────────────────────────────────────────────────────

const modelDescriptor: z.ZodType<ModelDescriptor> = z.looseObject({
  model: z.string(),
  kind: z.enum(['chat', 'image', 'caption', 'embed']),
  maxBatch: z.int().positive(),
  vramBytes: z.number().nonnegative(),
});

const nullableNumber = z.number().nullable();

/** A worker's GPU telemetry (its own nvidia-smi), as src/monitoring reads it. */
const gpuTelemetrySchema: z.ZodType<GpuTelemetry> = z.looseObject({
  state: z.enum(['ok', 'missing', 'failed', 'pending', 'off']),
  message: z.string().max(2000).exactOptional(),
  at: nullableNumber,
  gpus: z
    .array(
      z.looseObject({
        index: z.int().nonnegative(),
        utilization: nullableNumber,
        memoryUsedBytes: nullableNumber,
        memoryTotalBytes: nullableNumber,
        temperatureCelsius: nullableNumber,
        powerWatts: nullableNumber,
      }),
    )
    .max(64),
  hearthMemoryBytes: nullableNumber,
  pollSeconds: z.number().nonnegative(),
});

/** What a worker announces every beat (a key that expires after 3 beats). */
export const heartbeatSchema = z.looseObject({
  name: z.string(),
  /** Random per process start: a worker restarted under the same name is a new instance. */
  instance: z.string(),
  /** Its BullMQ queue (per instance). */
  queue: z.string(),
  host: z.string(),
  pid: z.int(),
  models: z.array(modelDescriptor),
  vramBudgetBytes: z.number().nonnegative(),
  capacity: z.int().positive(),
  /** Hearth job ids it is running now. */
  running: z.array(z.string()),
  /** Leaving: finishing what it has, taking nothing new. */
  draining: z.boolean(),
  startedAt: z.number(),
  /** When this beat was written (the worker's clock). */
  beatAt: z.number().optional(),
  /** Its GPU telemetry; absent from workers that do not watch their GPU. */
  gpu: gpuTelemetrySchema.optional(),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;

// ── Coordinator → worker ───────────────────────────────────────────────────────────────────────

const runnerJob: z.ZodType<RunnerJob> = z.looseObject({
  id: z.string(),
  kind: z.enum(['chat', 'image', 'caption', 'embed']),
  model: z.string(),
  userId: z.string(),
  payload: z.custom<Json>(() => true),
});

/** A BullMQ job's data: one hearth job to run to its end on this worker. */
export const jobDataSchema = z.looseObject({
  /** The coordinator run that placed it; a worker drops the work of an older run. */
  epoch: z.string(),
  job: runnerJob,
});
export type JobData = z.infer<typeof jobDataSchema>;

/** Pub/sub on the worker's control channel. */
export const controlSchema = z.discriminatedUnion('t', [
  /** Stop this BullMQ job (a cancel, or the engine no longer wants it). */
  z.looseObject({ t: z.literal('cancel'), bullId: z.string() }),
  /** A coordinator started: work of other epochs is stale. */
  z.looseObject({ t: z.literal('epoch'), epoch: z.string() }),
]);
export type Control = z.infer<typeof controlSchema>;

// ── Worker → coordinator: progress (job.updateProgress) and the outcome (the return value) ──────

/** Streamed while the job runs, in order, through the queue's event stream. */
export type Progress =
  | { t: 'begun'; steps: number }
  | { t: 'event'; event: JobEvent }
  | { t: 'stepped'; share: number };

const progressSchema = z.discriminatedUnion('t', [
  z.looseObject({ t: z.literal('begun'), steps: z.number().nonnegative() }),
  z.looseObject({ t: z.literal('event'), event: jobEventSchema }),
  z.looseObject({ t: z.literal('stepped'), share: z.number().nonnegative() }),
]);

/** How the job ended on the worker. `failed` during `begin` is the runner refusing the input. */
export type Outcome =
  | { t: 'done'; result: JobResult }
  | { t: 'failed'; error: ErrorInfo; during: 'begin' | 'step' }
  | { t: 'cancelled' };

const outcomeSchema = z.discriminatedUnion('t', [
  z.looseObject({ t: z.literal('done'), result: z.unknown() }),
  z.looseObject({ t: z.literal('failed'), error: errorInfoSchema, during: z.enum(['begin', 'step']) }),
  z.looseObject({ t: z.literal('cancelled') }),
]);

export type Decoded<T> = { ok: true; value: T } | { ok: false; problem: string };

function problem(e: z.ZodError): string {
  return e.issues
    .slice(0, 3)
    .map((i) => `${i.path.map(String).join('.') || 'value'}: ${i.message}`)
    .join('; ');
}

export function decodeProgress(raw: unknown): Decoded<Progress> {
  const r = progressSchema.safeParse(fromWire(raw));
  return r.success ? { ok: true, value: r.data } : { ok: false, problem: problem(r.error) };
}

export function decodeOutcome(raw: unknown): Decoded<Outcome> {
  const r = outcomeSchema.safeParse(fromWire(typeof raw === 'string' ? safeJson(raw) : raw));
  if (!r.success) return { ok: false, problem: problem(r.error) };
  if (r.data.t !== 'done') return { ok: true, value: r.data };
  // The result is checked as the GPU worker's protocol checks a result event.
  const checked = jobEventSchema.safeParse({ type: 'result', result: r.data.result });
  if (!checked.success) return { ok: false, problem: problem(checked.error) };
  if (checked.data.type !== 'result') return { ok: false, problem: 'result: not a result' };
  return { ok: true, value: { t: 'done', result: checked.data.result } };
}

export function decodeHeartbeat(raw: string): Decoded<Heartbeat> {
  const r = heartbeatSchema.safeParse(safeJson(raw));
  return r.success ? { ok: true, value: r.data } : { ok: false, problem: problem(r.error) };
}

export function decodeControl(raw: string): Decoded<Control> {
  const r = controlSchema.safeParse(safeJson(raw));
  return r.success ? { ok: true, value: r.data } : { ok: false, problem: problem(r.error) };
}

export function decodeJobData(raw: unknown): Decoded<JobData> {
  const r = jobDataSchema.safeParse(raw);
  return r.success ? { ok: true, value: r.data } : { ok: false, problem: problem(r.error) };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
