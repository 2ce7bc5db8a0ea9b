import type { Clock } from './clock.js';
import type { EventHub } from './events.js';
import type { LiveJob, LiveJobs } from './live-jobs.js';
import type { ProjectedSlot, SchedulerPolicy } from './scheduler/policy.js';

/**
 * Where each waiting job stands: positions and ETAs projected from the policy's estimates, published
 * as `queued` events when a job's place changes or its ETA moves noticeably. Projection replays the
 * whole queue, so it runs when the queue changed, or at most about once a second otherwise.
 */
export class QueueProjection {
  readonly #jobs: LiveJobs;
  readonly #policy: SchedulerPolicy;
  readonly #hub: EventHub;
  readonly #clock: Clock;
  #lastAt = 0;
  #changed = true;

  constructor(jobs: LiveJobs, policy: SchedulerPolicy, hub: EventHub, clock: Clock) {
    this.#jobs = jobs;
    this.#policy = policy;
    this.#hub = hub;
    this.#clock = clock;
  }

  /** The queue changed (a job added, begun, requeued or ended): the next publish recomputes. */
  invalidate(): void {
    this.#changed = true;
  }

  /** The projected start order of the jobs not yet running. */
  slots(): ProjectedSlot[] {
    return this.#policy.project(this.#jobs.runningIds());
  }

  /**
   * Publishes `queued` events whose position changed, or whose ETA moved noticeably. Without `force`,
   * only when the queue changed or a second has passed since the last projection.
   */
  publish(force = this.#changed): void {
    const now = this.#clock.now();
    if (!force && now - this.#lastAt < 1000) return;
    this.#lastAt = now;
    this.#changed = false;
    for (const slot of this.slots()) {
      const live = this.#jobs.get(slot.jobId);
      if (!live || live.begun) continue;
      const eta = Math.round(slot.etaSeconds);
      const last = live.lastQueued;
      const moved = !last || last.position !== slot.position || Math.abs(last.etaSeconds - eta) > Math.max(2, last.etaSeconds * 0.2);
      if (!moved) continue;
      live.lastQueued = { position: slot.position, etaSeconds: eta };
      this.#hub.publish(slot.jobId, slot.userId, { type: 'queued', position: slot.position, etaSeconds: eta });
    }
  }

  /**
   * While hearth starts, the policy holds no jobs yet (it needs the models' batch sizes): a job's place
   * is its arrival order among the waiting jobs, and its ETA unknown (0).
   */
  publishStarting(live: LiveJob): void {
    const position = [...this.#jobs.values()].filter((j) => j.record.seq < live.record.seq).length;
    live.lastQueued = { position, etaSeconds: 0 };
    this.#hub.publish(live.record.id, live.record.userId, { type: 'queued', position, etaSeconds: 0, starting: true });
  }

  /** Forgets what was published, so the next publish tells every waiting job its place again. */
  forgetPublished(): void {
    for (const live of this.#jobs.values()) delete live.lastQueued;
    this.#changed = true;
  }
}
