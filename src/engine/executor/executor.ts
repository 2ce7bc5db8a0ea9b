import type { RunnerCounters, RunnerJob, StepOutput } from '../runner.js';
import type { JobEvent, JobKind } from '../types.js';

/** What the engine knows of a model the executor can run. */
export interface ModelDescriptor {
  model: string;
  kind: JobKind;
  maxBatch: number;
  vramBytes: number;
}

export interface ExecStepOptions {
  /** Aborts the running step (cancel of its only job, shutdown). */
  signal?: AbortSignal;
  emit: (jobId: string, event: JobEvent) => void;
}

/**
 * Where GPU work runs. The default runs runners in a supervised child process
 * ({@link ChildProcessExecutor}); {@link InProcessExecutor} runs them in this process (tests, simulations).
 * The same seam can later carry a multi-host executor; fair-share decisions stay in the engine.
 *
 * Every method may reject with a HearthError: `WORKER_CRASHED` when the process running the work died
 * (all runner state is then gone: nothing is loaded and no job is begun), or the runner's own error.
 */
export interface Executor {
  /** Models available, with their VRAM estimates. */
  describe(opts?: { signal?: AbortSignal }): Promise<ModelDescriptor[]>;
  load(model: string, opts?: { signal?: AbortSignal }): Promise<void>;
  unload(model: string): Promise<void>;
  begin(job: RunnerJob, opts?: { signal?: AbortSignal }): Promise<{ steps: number }>;
  step(model: string, jobIds: string[], opts: ExecStepOptions): Promise<StepOutput[]>;
  end(model: string, jobId: string): Promise<void>;
  /** The runners' counters by model, totals since the executor was made (across worker restarts); absent where none are kept. */
  counters?(): Record<string, RunnerCounters>;
  /** Called when the work process went down on its own (not through close). */
  onCrash(listener: (reason: string) => void): () => void;
  /** Stops everything; returns the same promise when called again. */
  close(): Promise<void>;
}
