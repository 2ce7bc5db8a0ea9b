import type { JobRecord } from './types.js';

/** A job in memory while it is queued or running. */
export interface LiveJob {
  record: JobRecord;
  /** True while a runner holds state for it (between begin and end). */
  begun: boolean;
  /** Steps done, and expected in all: for /queue and the dashboard. */
  step: number;
  steps: number;
  /** Text streamed so far: kept as the partial answer if the job is cancelled. */
  text: string;
  /** The last `queued` event published, so only moves are published again. */
  lastQueued?: { position: number; etaSeconds: number };
}

/**
 * The queued and running jobs, with begun jobs indexed by model (the pick asks for them every step,
 * so they are kept as they change instead of found by a scan). Shared by the engine's parts; only
 * the lifecycle changes it.
 */
export class LiveJobs {
  readonly #jobs = new Map<string, LiveJob>();
  readonly #begun = new Map<string, Set<string>>();

  get size(): number {
    return this.#jobs.size;
  }

  get(jobId: string): LiveJob | undefined {
    return this.#jobs.get(jobId);
  }

  has(jobId: string): boolean {
    return this.#jobs.has(jobId);
  }

  values(): IterableIterator<LiveJob> {
    return this.#jobs.values();
  }

  add(live: LiveJob): void {
    this.#jobs.set(live.record.id, live);
    if (live.begun) this.setBegun(live, true);
  }

  delete(live: LiveJob): void {
    this.#jobs.delete(live.record.id);
    this.#begun.get(live.record.model)?.delete(live.record.id);
  }

  setBegun(live: LiveJob, begun: boolean): void {
    live.begun = begun;
    let set = this.#begun.get(live.record.model);
    if (!set) this.#begun.set(live.record.model, (set = new Set()));
    if (begun) set.add(live.record.id);
    else set.delete(live.record.id);
  }

  /** Ids of the model's begun jobs. */
  begunIds(model: string): string[] {
    return [...(this.#begun.get(model) ?? [])];
  }

  /** Ids of every begun job, whatever the model. */
  runningIds(): Set<string> {
    const out = new Set<string>();
    for (const set of this.#begun.values()) for (const id of set) out.add(id);
    return out;
  }
}
