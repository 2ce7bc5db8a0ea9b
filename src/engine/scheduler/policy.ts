/**
 * The scheduling policy seam (like p-queue's `queueClass`): the engine asks a policy which jobs the
 * next GPU step advances, and tells it what each step really cost. The default is
 * {@link VirtualTimeScheduler}; {@link FifoScheduler} exists to compare against in benchmarks.
 */

/** A job as the scheduler sees it. */
export interface SchedJob {
  id: string;
  userId: string;
  model: string;
  /** Several jobs of this kind may advance in one batched step (chat decode). */
  batchable: boolean;
  /** Fair-share weight of the owner (≥ 0, usually 1). */
  weight: number;
  /** Global arrival order; FIFO within a user follows it. */
  seq: number;
  /** Estimated GPU-seconds still to run; lowered as steps are charged. */
  remainingSeconds: number;
}

export interface PickContext {
  /** True when the model is loaded now. */
  isResident(model: string): boolean;
  /** True when the model is loaded, or can be loaded without evicting another. */
  fitsWithoutSwap(model: string): boolean;
  /** How many jobs one step of this model can advance together. */
  maxBatch(model: string): number;
  /** Jobs that hold runner state (begun), by model: batched models must keep advancing these. */
  begun(model: string): readonly string[];
}

/** The jobs one GPU step advances. */
export interface Pick {
  model: string;
  jobIds: string[];
}

export interface Charge {
  userId: string;
  jobId: string;
  seconds: number;
}

export interface ProjectedSlot {
  jobId: string;
  userId: string;
  /** 0 for the first job to start, counting only jobs not yet running. */
  position: number;
  /** Estimated seconds until the job starts. */
  etaSeconds: number;
}

export interface SchedulerPolicy {
  /** Adds a job at the tail of its user's queue. A user who becomes backlogged is lifted to the current minimum. */
  add(job: SchedJob): void;
  /** Removes a finished, failed or cancelled job. */
  remove(jobId: string): void;
  /** Chooses the next step, or undefined when nothing is queued. */
  pick(ctx: PickContext): Pick | undefined;
  /** Charges what a step really used. */
  charge(charges: readonly Charge[]): void;
  /** The projected start order of jobs not yet running, with ETAs from the estimates. */
  project(running: ReadonlySet<string>): ProjectedSlot[];
  /** Per-user service counters, to save and restore across restarts. */
  virtualTimes(): Map<string, number>;
  restoreVirtualTimes(times: ReadonlyMap<string, number>): void;
  /** Number of jobs held. */
  readonly size: number;
}
