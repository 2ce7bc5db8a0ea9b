import type { Charge, Pick, PickContext, ProjectedSlot, SchedJob, SchedulerPolicy } from './policy.js';

interface UserQueue {
  userId: string;
  /** Weighted GPU-seconds received (virtual time). */
  vtime: number;
  jobs: SchedJob[];
}

export interface VirtualTimeOptions {
  /**
   * How far (GPU-seconds of virtual time) a user whose work needs no model swap may run ahead of the
   * most-behind user. Bounds both the unfairness residency buys and how often models swap.
   */
  fairnessLagSeconds?: number;
}

/**
 * Per-user fair queuing by virtual time (VTC, Sheng et al., OSDI 2024; start-time fair queuing).
 *
 * Each user has a counter of weighted GPU-seconds received. The next step goes to the backlogged user
 * with the smallest counter; FIFO within a user. A user who becomes backlogged is lifted to the
 * smallest counter among backlogged users, so idle time is not banked. Charging what a step really
 * used, after it ran, keeps two continuously backlogged users within about one step of each other in
 * virtual time (the bound tested is 2× the largest step).
 *
 * Residency: when the most-behind user's work needs a model swap, a user whose work runs on a loaded
 * model may go first, but only while its counter is within `fairnessLagSeconds` of the minimum. So no
 * user falls further behind than the lag plus one step.
 *
 * Batching: when the chosen job is batchable (chat decode), the step also advances every begun job of
 * that model and, while slots remain, the head jobs of other users on that model in fair order.
 */
export class VirtualTimeScheduler implements SchedulerPolicy {
  readonly #users = new Map<string, UserQueue>();
  readonly #jobUser = new Map<string, string>();
  readonly #lag: number;
  /** Counters of users with no queued work, kept so a returning heavy user is not reset to zero. */
  readonly #idle = new Map<string, number>();

  constructor(options: VirtualTimeOptions = {}) {
    this.#lag = options.fairnessLagSeconds ?? 30;
  }

  get size(): number {
    return this.#jobUser.size;
  }

  add(job: SchedJob): void {
    if (this.#jobUser.has(job.id)) return;
    let q = this.#users.get(job.userId);
    if (!q) {
      const floor = this.#minVtime();
      const previous = this.#idle.get(job.userId) ?? 0;
      this.#idle.delete(job.userId);
      // Lift to the current minimum: a newcomer or a returning user starts level with the most-behind
      // backlogged user, never behind it (no banked idle time).
      q = { userId: job.userId, vtime: floor === undefined ? previous : Math.max(previous, floor), jobs: [] };
      this.#users.set(job.userId, q);
    }
    // Keep FIFO by seq even when jobs are restored out of order after a restart.
    const at = q.jobs.findIndex((j) => j.seq > job.seq);
    if (at === -1) q.jobs.push(job);
    else q.jobs.splice(at, 0, job);
    this.#jobUser.set(job.id, job.userId);
  }

  remove(jobId: string): void {
    const userId = this.#jobUser.get(jobId);
    if (userId === undefined) return;
    this.#jobUser.delete(jobId);
    const q = this.#users.get(userId);
    if (!q) return;
    q.jobs = q.jobs.filter((j) => j.id !== jobId);
    if (q.jobs.length === 0) {
      this.#users.delete(userId);
      this.#idle.set(userId, q.vtime);
    }
  }

  pick(ctx: PickContext): Pick | undefined {
    const first = this.#mostBehind();
    if (!first) return undefined;
    let chosen = first;
    const head = first.jobs[0];
    if (head && !ctx.fitsWithoutSwap(head.model)) {
      // Prefer work on a loaded model, inside the fairness lag.
      let best: UserQueue | undefined;
      for (const q of this.#users.values()) {
        const h = q.jobs[0];
        if (!h || q.vtime > first.vtime + this.#lag) continue;
        if (!ctx.isResident(h.model)) continue;
        if (!best || this.#before(q, best)) best = q;
      }
      if (best) chosen = best;
    }
    const job = chosen.jobs[0];
    if (!job) return undefined;
    if (!job.batchable) return { model: job.model, jobIds: [job.id] };
    return { model: job.model, jobIds: this.#batch(job, ctx) };
  }

  charge(charges: readonly Charge[]): void {
    for (const c of charges) {
      const q = this.#users.get(c.userId);
      const job = q?.jobs.find((j) => j.id === c.jobId);
      if (job) job.remainingSeconds = Math.max(0, job.remainingSeconds - c.seconds);
      const weight = job?.weight ?? 1;
      const cost = c.seconds / (weight > 0 ? weight : 1);
      if (q) q.vtime += cost;
      else this.#idle.set(c.userId, (this.#idle.get(c.userId) ?? 0) + cost);
    }
  }

  project(running: ReadonlySet<string>): ProjectedSlot[] {
    // Replay the policy on the estimates: repeatedly give the most-behind user its next job whole.
    const sim = [...this.#users.values()].map((q) => ({
      userId: q.userId,
      vtime: q.vtime,
      jobs: q.jobs,
      next: 0,
    }));
    let clock = 0;
    // Work already running finishes first, roughly.
    for (const q of sim) {
      for (const j of q.jobs) if (running.has(j.id)) clock += j.remainingSeconds;
    }
    const out: ProjectedSlot[] = [];
    for (;;) {
      let best: (typeof sim)[number] | undefined;
      for (const q of sim) {
        while (q.next < q.jobs.length && running.has(q.jobs[q.next]!.id)) q.next++;
        if (q.next >= q.jobs.length) continue;
        if (!best || q.vtime < best.vtime || (q.vtime === best.vtime && q.jobs[q.next]!.seq < best.jobs[best.next]!.seq)) {
          best = q;
        }
      }
      if (!best) break;
      const job = best.jobs[best.next]!;
      out.push({ jobId: job.id, userId: job.userId, position: out.length, etaSeconds: clock });
      clock += job.remainingSeconds;
      best.vtime += job.remainingSeconds / (job.weight > 0 ? job.weight : 1);
      best.next++;
    }
    return out;
  }

  virtualTimes(): Map<string, number> {
    const out = new Map(this.#idle);
    for (const q of this.#users.values()) out.set(q.userId, q.vtime);
    return out;
  }

  restoreVirtualTimes(times: ReadonlyMap<string, number>): void {
    // Normalise so the smallest saved counter is zero: absolute values carry no meaning across runs.
    const min = Math.min(...times.values());
    for (const [userId, v] of times) {
      const q = this.#users.get(userId);
      if (q) q.vtime = v - min;
      else this.#idle.set(userId, v - min);
    }
  }

  #batch(head: SchedJob, ctx: PickContext): string[] {
    const max = Math.max(1, ctx.maxBatch(head.model));
    const ids = new Set<string>();
    // Begun jobs hold runner slots (context sequences): they advance with every batched step.
    for (const id of ctx.begun(head.model)) if (this.#jobUser.has(id) && ids.size < max) ids.add(id);
    if (ids.size < max) ids.add(head.id);
    if (ids.size >= max) return [...ids];
    const others = [...this.#users.values()].sort((a, b) => (this.#before(a, b) ? -1 : 1));
    for (const q of others) {
      const h = q.jobs[0];
      if (!h || !h.batchable || h.model !== head.model) continue;
      ids.add(h.id);
      if (ids.size >= max) break;
    }
    return [...ids];
  }

  #mostBehind(): UserQueue | undefined {
    let best: UserQueue | undefined;
    for (const q of this.#users.values()) {
      if (q.jobs.length === 0) continue;
      if (!best || this.#before(q, best)) best = q;
    }
    return best;
  }

  #before(a: UserQueue, b: UserQueue): boolean {
    if (a.vtime !== b.vtime) return a.vtime < b.vtime;
    return (a.jobs[0]?.seq ?? Infinity) < (b.jobs[0]?.seq ?? Infinity);
  }

  #minVtime(): number | undefined {
    let min: number | undefined;
    for (const q of this.#users.values()) if (q.jobs.length > 0 && (min === undefined || q.vtime < min)) min = q.vtime;
    return min;
  }
}
