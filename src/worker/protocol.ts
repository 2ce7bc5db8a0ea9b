/**
 * The typed messages between the main process and the GPU worker process. Sent with Node's
 * `advanced` serialization, so Uint8Array (PNG bytes) crosses without base64.
 */
import type { ModelDescriptor } from '../engine/executor/executor.js';
import type { RunnerJob, StepOutput } from '../engine/runner.js';
import type { ErrorInfo, JobEvent, Json } from '../engine/types.js';

export interface WorkerInit {
  /** Module paths (file URLs or specifiers) whose default export is a RunnerFactory. */
  runnerModules: string[];
  settings: Json;
}

export type Request =
  | { op: 'describe' }
  | { op: 'load'; model: string }
  | { op: 'unload'; model: string }
  | { op: 'begin'; job: RunnerJob }
  | { op: 'step'; model: string; jobIds: string[] }
  | { op: 'end'; model: string; jobId: string }
  | { op: 'abort'; target: number };

export type ResponseValue = ModelDescriptor[] | { steps: number } | StepOutput[] | null;

export type ToWorker = { type: 'init'; init: WorkerInit } | { type: 'request'; id: number; request: Request };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'init-failed'; error: ErrorInfo }
  | { type: 'response'; id: number; ok: true; value: ResponseValue }
  | { type: 'response'; id: number; ok: false; error: ErrorInfo }
  | { type: 'event'; id: number; jobId: string; event: JobEvent }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string };
