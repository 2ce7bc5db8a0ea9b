import type { Charge, Pick, PickContext, ProjectedSlot, SchedJob, SchedulerPolicy } from './policy.js';

/**
 * First come, first served: the oldest job runs until it ends, whoever sent it. This is what most
 * GPU bots do; it exists here as the baseline the benchmarks compare the fair scheduler against.
 */
export class FifoScheduler implements SchedulerPolicy {
  readonly #jobs: SchedJob[] = [];
  readonly #times = new Map<string, number>();

  get size(): number {
    return this.#jobs.length;
  }

  add(job: SchedJob): void {
    if (this.#jobs.some((j) => j.id === job.id)) return;
    const at = this.#jobs.findIndex((j) => j.seq > job.seq);
    if (at === -1) this.#jobs.push(job);
    else this.#jobs.splice(at, 0, job);
  }

  remove(jobId: string): void {
    const at = this.#jobs.findIndex((j) => j.id === jobId);
    if (at !== -1) this.#jobs.splice(at, 1);
  }

  pick(ctx: PickContext): Pick | undefined {
    const head = this.#jobs[0];
    if (!head) return undefined;
    if (!head.batchable) return { model: head.model, jobIds: [head.id] };
    const max = Math.max(1, ctx.maxBatch(head.model));
    const ids = new Set<string>();
    for (const id of ctx.begun(head.model)) if (ids.size < max && this.#jobs.some((j) => j.id === id)) ids.add(id);
    for (const j of this.#jobs) {
      if (ids.size >= max) break;
      if (j.batchable && j.model === head.model) ids.add(j.id);
    }
    return { model: head.model, jobIds: [...ids] };
  }

  charge(charges: readonly Charge[]): void {
    for (const c of charges) {
      this.#times.set(c.userId, (this.#times.get(c.userId) ?? 0) + c.seconds);
      const job = this.#jobs.find((j) => j.id === c.jobId);
      if (job) job.remainingSeconds = Math.max(0, job.remainingSeconds - c.seconds);
    }
  }

  project(running: ReadonlySet<string>): ProjectedSlot[] {
    let clock = 0;
    for (const j of this.#jobs) if (running.has(j.id)) clock += j.remainingSeconds;
    const out: ProjectedSlot[] = [];
    for (const j of this.#jobs) {
      if (running.has(j.id)) continue;
      out.push({ jobId: j.id, userId: j.userId, position: out.length, etaSeconds: clock });
      clock += j.remainingSeconds;
    }
    return out;
  }

  virtualTimes(): Map<string, number> {
    return new Map(this.#times);
  }

  restoreVirtualTimes(times: ReadonlyMap<string, number>): void {
    for (const [k, v] of times) this.#times.set(k, v);
  }
}
