import type { ErrorInfo, JobEvent, JobKind, JobResult, Json } from './types.js';

/** A job as a runner sees it. */
export interface RunnerJob {
  id: string;
  kind: JobKind;
  model: string;
  userId: string;
  payload: Json;
}

/** What one job got from one step. */
export interface StepOutput {
  jobId: string;
  /** Set when the job has finished: its result. */
  done?: JobResult;
  /** Set when the job failed in this step (bad input found late, runner error). */
  failed?: ErrorInfo;
  /**
   * This job's share of the step's work, e.g. tokens decoded in a batched step. The measured
   * GPU-seconds of a batched step are split between its jobs in proportion. Default 1.
   */
  share?: number;
}

export interface StepOptions {
  /** Aborted when the step must stop early (cancel of a running job, shutdown). */
  signal?: AbortSignal;
  /** Streams events (tokens, progress, previews) as they happen inside the step. */
  emit: (jobId: string, event: JobEvent) => void;
}

/** A chat runner's conversation cache, counted since the runner was created. */
export interface ConversationCacheCounters {
  /** Turns whose conversation's tokens were found in an idle sequence. */
  hits: number;
  /** Turns of a conversation that found none (first turn, evicted, or busy). */
  misses: number;
  /** Idle conversations whose tokens were dropped for another. */
  evictions: number;
  /** Prompt tokens found already evaluated. */
  reusedTokens: number;
  /** Prompt tokens evaluated. */
  evaluatedTokens: number;
}

/** A chat runner's speculative decoding (draft model), counted since the runner was created. */
export interface DraftCounters {
  /** Drafted tokens the chat model confirmed. */
  accepted: number;
  /** Drafted tokens the chat model rejected. */
  rejected: number;
}

/** Counters a runner keeps about its own work (the worker sends them to the main process after each step). */
export interface RunnerCounters {
  conversationCache?: ConversationCacheCounters;
  /** Only with a draft model configured. */
  draft?: DraftCounters;
}

/**
 * A model runner in the GPU worker. One instance serves one configured model. A job is a sequence of
 * steps; the engine decides which step runs next, so another user's work can go between two steps.
 *
 * Lifecycle: `load` → (`begin` → `step`… → `end`)… → `unload`; `dispose` is safe to call twice.
 * The built-in runners share these rules (src/runners/lifecycle.ts; checked by the runner contract
 * suite, test/integration/runner-contract.test.ts):
 * - concurrent `load` calls load once; `unload` waits for a load in flight; a `load` caller whose
 *   signal aborts is rejected at once, while the shared load goes on for the other callers (it is
 *   aborted, and what it acquired freed, when none is left);
 * - `begin`/`step` with no model loaded reject with RUNNER_FAILED, facts `{ loaded: false }`;
 * - after `dispose`, every call but `dispose` rejects with SHUTTING_DOWN naming the runner;
 * - a job id `step` does not know comes back as that job's output, failed NOT_FOUND;
 *   `end` of an unknown id does nothing.
 */
export interface Runner {
  readonly model: string;
  readonly kind: JobKind;
  /** How many jobs one `step` call may advance together (chat decode); 1 for unbatched runners. */
  readonly maxBatch: number;
  /** Estimated VRAM (bytes) the loaded model takes. Used by the residency manager. */
  vramBytes(): Promise<number>;
  /** Loads the model (once, however many callers). Throws HearthError (MODEL_MISSING, MODEL_INVALID, …) with the facts. */
  load(opts?: { signal?: AbortSignal }): Promise<void>;
  unload(): Promise<void>;
  /** Prepares a job (validate input, allocate state). Returns the number of steps expected. */
  begin(job: RunnerJob, opts?: { signal?: AbortSignal }): Promise<{ steps: number }>;
  /**
   * Advances the given jobs by one step (several only when `maxBatch` > 1). Returns one output per job.
   * On abort, returns promptly; jobs not done are left resumable or ended by `end`.
   */
  step(jobIds: string[], opts: StepOptions): Promise<StepOutput[]>;
  /** Frees a job's state (finished, cancelled, or failed). Safe for an unknown id. */
  end(jobId: string): Promise<void>;
  dispose(): Promise<void>;
  /** Counters of its own work so far (monotonic while the runner lives). */
  counters?(): RunnerCounters;
}

/** Creates the runners of a worker from its settings (the worker imports this from a module path). */
export type RunnerFactory = (settings: Json) => Promise<Runner[]> | Runner[];
