/**
 * What the SQLite repositories share: the job row and its conversion, argument checks, and the
 * transaction helper. Internal to the store.
 */
import type Database from 'better-sqlite3';
import { HearthError, type ErrorInfo, type JobKind, type JobRecord, type JobResult, type JobState, type Json } from '../types.js';

export type Stmt<P extends unknown[], R = unknown> = Database.Statement<P, R>;

export interface JobRow {
  seq: number;
  id: string;
  kind: string;
  model: string;
  user_id: string;
  payload: string;
  origin: string | null;
  conversation_id: string | null;
  weight: number;
  state: string;
  attempts: number;
  crashes: number;
  estimate_s: number;
  used_s: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  result: string | null;
  result_png: Buffer | null;
  error: string | null;
  admin: number;
  delivered_at: number | null;
}

export const JOB_COLUMNS =
  'seq, id, kind, model, user_id, payload, origin, conversation_id, weight, state, attempts, crashes, ' +
  'estimate_s, used_s, created_at, started_at, finished_at, result, result_png, error, admin, delivered_at';

/**
 * Wraps `fn` in an IMMEDIATE transaction: the write lock is taken at the start, so a second
 * connection (a CLI) gets a clean busy wait instead of a failed lock upgrade.
 */
export function immediate<A extends unknown[], R>(db: Database.Database, fn: (...args: A) => R): (...args: A) => R {
  return db.transaction(fn).immediate;
}

/** A JobResult as the `result` column holds it: the PNG bytes are in `result_png`. */
type StoredResult = Omit<JobResult, 'image'> & { image?: { width: number; height: number } };

export function toRecord(row: JobRow): JobRecord {
  return {
    id: row.id,
    seq: row.seq,
    kind: row.kind as JobKind,
    model: row.model,
    userId: row.user_id,
    payload: parseJson(row.payload),
    origin: row.origin === null ? null : parseJson(row.origin),
    conversationId: row.conversation_id,
    weight: row.weight,
    state: row.state as JobState,
    attempts: row.attempts,
    crashes: row.crashes,
    estimateSeconds: row.estimate_s,
    usedSeconds: row.used_s,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    result: decodeResult(row.result, row.result_png),
    error: row.error === null ? null : (JSON.parse(row.error) as ErrorInfo),
    admin: row.admin === 1,
    deliveredAt: row.delivered_at,
  };
}

export function encodeResult(result: JobResult | null | undefined): { json: string | null; png: Buffer | null } {
  if (!result) return { json: null, png: null };
  const { image, ...rest } = result;
  if (!image) return { json: JSON.stringify(rest), png: null };
  const stored: StoredResult = { ...rest, image: { width: image.width, height: image.height } };
  // A view, not a copy: SQLite copies the bytes itself when it binds the blob.
  return { json: JSON.stringify(stored), png: Buffer.from(image.png.buffer, image.png.byteOffset, image.png.byteLength) };
}

function decodeResult(json: string | null, png: Buffer | null): JobResult | null {
  if (json === null) return null;
  const { image, ...rest } = JSON.parse(json) as StoredResult;
  if (!image || !png) return rest;
  // A plain Uint8Array (not a Buffer) so the value compares and structured-clones like the one stored.
  return { ...rest, image: { ...image, png: new Uint8Array(png.buffer, png.byteOffset, png.byteLength) } };
}

export function parseJson(text: string): Json {
  return JSON.parse(text) as Json;
}

export function expectState(job: JobRecord, expected: readonly JobState[], action: string): void {
  if (expected.includes(job.state)) return;
  throw new HearthError(
    'INVALID_INPUT',
    `job ${job.id} can ${action} only when ${expected.join(' or ')}; it is ${job.state}`,
    { jobId: job.id, state: job.state, expected: [...expected] },
  );
}

export function notFound(jobId: string): HearthError {
  return new HearthError('NOT_FOUND', `no job with id ${jobId}`, { jobId });
}

export function checkTime(now: number): void {
  if (!Number.isFinite(now)) throw new HearthError('INVALID_INPUT', `time must be epoch milliseconds; got ${now}`, { now });
}
