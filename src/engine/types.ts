/**
 * The engine's vocabulary: jobs, their states and events, and expected failures as values.
 * Nothing here imports a platform library or a model library.
 */

/** `embed`: text embeddings for workspace knowledge (a batch of messages, or one question). */
export type JobKind = 'chat' | 'image' | 'caption' | 'embed';
export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

/** A JSON value: what payloads, origins and facts are made of (they cross a process boundary and SQLite). */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export {
  ERROR_CODES,
  HearthError,
  fault,
  messageOf,
  toErrorInfo,
  type EndedState,
  type ErrorCode,
  type ErrorFacts,
  type ErrorInfo,
  type ErrorInfoOf,
  type FactsOf,
  type ToErrorInfoOptions,
} from './errors.js';
import type { ErrorInfo } from './errors.js';

export type Result<T, E = ErrorInfo> = { ok: true; value: T } | { ok: false; error: E };
export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const err = <E = ErrorInfo>(error: E): Result<never, E> => ({ ok: false, error });

/** What a command asks the engine to run. */
export interface JobSpec {
  kind: JobKind;
  /** Model id as named in config (`chat`, `image`, `caption`, or a test runner's id). */
  model: string;
  /** Platform-qualified user id, e.g. `discord:1234`. Fairness is per user. */
  userId: string;
  /** Kind-specific input; validated by the command before it gets here, and by the runner again. */
  payload: Json;
  /** Opaque to the engine: where the adapter must answer (channel, interaction token, …). Survives restarts. */
  origin?: Json;
  /** Fair-share weight (roles); default 1. */
  weight?: number;
  /** Conversation this job belongs to, if any. */
  conversationId?: string;
  /** The command's guess of how many steps the job takes (for the cost estimate before it starts). */
  estimatedSteps?: number;
}

/** An image result. */
export interface ImageOutput {
  png: Uint8Array;
  width: number;
  height: number;
}

/** What a finished (or cancelled, partially finished) job produced. */
export interface JobResult {
  text?: string;
  /** True when generation was stopped before its natural end (cancel, token limit). */
  stopped?: boolean;
  stopReason?: 'cancelled' | 'maxTokens' | 'endOfTurn' | 'done';
  image?: ImageOutput;
  meta?: Record<string, Json>;
}

/** A job as the store keeps it. */
export interface JobRecord {
  id: string;
  seq: number;
  kind: JobKind;
  model: string;
  userId: string;
  payload: Json;
  origin: Json | null;
  conversationId: string | null;
  weight: number;
  state: JobState;
  /** Times the job was begun on a worker. */
  attempts: number;
  /** Times the job was running when the worker or the main process went down. */
  crashes: number;
  estimateSeconds: number;
  usedSeconds: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  result: JobResult | null;
  error: ErrorInfo | null;
  /** Its submitter was a hearth admin (not held to the daily limit when it starts, as at submit). */
  admin: boolean;
  /**
   * When an adapter confirmed that the job's end reached its owner; null until then (and for a job
   * that has not ended). Ended jobs not yet delivered are sent again after a restart.
   */
  deliveredAt: number | null;
}

/** One typed event stream per job, for the adapters. */
export type JobEvent =
  /**
   * The job waits. `position` counts the queued jobs that start before it (0 = next). `starting` is
   * true while hearth is still starting (the job is stored and waits for the models to come up;
   * `etaSeconds` is then 0, unknown): a `queued` event without it follows once hearth is ready.
   */
  | { type: 'queued'; position: number; etaSeconds: number; starting?: boolean }
  | { type: 'started'; attempt: number }
  | { type: 'progress'; step: number; of: number }
  | { type: 'token'; text: string }
  | { type: 'preview'; png: Uint8Array; step: number }
  | { type: 'result'; result: JobResult }
  | { type: 'failed'; error: ErrorInfo }
  | { type: 'cancelled'; partial: JobResult | null; by: string };

/** An event with the job it belongs to, as the engine publishes it. */
export interface EngineEvent {
  jobId: string;
  userId: string;
  event: JobEvent;
}
