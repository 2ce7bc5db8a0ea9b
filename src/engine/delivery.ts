import type { Clock } from './clock.js';
import type { EventHub } from './events.js';
import type { LiveJobs } from './live-jobs.js';
import type { JobRecordStore } from './store/job-store.js';
import { err, ok, type JobEvent, type JobRecord, type Result } from './types.js';

export interface DeliveryLogger {
  info(msg: string): void;
  warn(msg: string): void;
}

export interface DeliveryOptions {
  store: Pick<JobRecordStore, 'getJob' | 'markDelivered' | 'listUndelivered' | 'noteRedelivery' | 'abandonDelivery'>;
  jobs: LiveJobs;
  hub: EventHub;
  clock: Clock;
  log: DeliveryLogger;
  /** Restarts at which an undelivered end is sent again before hearth gives up (default 5). */
  maxRedeliveries?: number;
  /** How long after its end a job's end is still sent again, ms (default a day). */
  maxAgeMs?: number;
}

/**
 * Delivery is part of a job: its end (result, failure, cancel) is stored with the job, and the job
 * counts as answered only once an adapter says the end reached its owner ({@link markDelivered}:
 * the final message was sent, or the platform refused it for good, e.g. the message was deleted).
 *
 * A job that ended but was not confirmed (hearth was killed between storing the end and sending
 * it, or the platform failed the send) has its end published again at the next start, after the
 * adapters have subscribed ({@link resend}). That is retried at each start, at most
 * `maxRedeliveries` times and for at most `maxAgeMs` after the job ended; then hearth gives up on
 * it and logs so. Jobs with no origin have nobody to deliver to and are not tracked.
 */
export class Delivery {
  readonly #o: DeliveryOptions;
  readonly #maxRedeliveries: number;
  readonly #maxAgeMs: number;

  constructor(options: DeliveryOptions) {
    this.#o = options;
    this.#maxRedeliveries = options.maxRedeliveries ?? 5;
    this.#maxAgeMs = options.maxAgeMs ?? 86_400_000;
  }

  /** Records that the end of an ended job reached its owner. NOT_FOUND for an unknown job, INVALID_INPUT for one not ended. */
  markDelivered(jobId: string): Result<JobRecord> {
    if (this.#o.jobs.has(jobId)) {
      return err({ code: 'INVALID_INPUT', message: `job ${jobId} has not ended; only an ended job is delivered`, facts: { given: jobId } });
    }
    const job = this.#o.store.getJob(jobId);
    if (!job) return err({ code: 'NOT_FOUND', message: `there is no job ${jobId}`, facts: { given: jobId } });
    if (job.finishedAt === null) {
      return err({ code: 'INVALID_INPUT', message: `job ${jobId} has not ended (${job.state})`, facts: { given: jobId, state: job.state } });
    }
    return ok(this.#o.store.markDelivered(jobId, this.#o.clock.now()));
  }

  /**
   * At start: publishes again the end of every ended job that was not delivered, oldest first, and
   * gives up on those sent too often already or too old. Returns how many were published.
   */
  resend(): number {
    const now = this.#o.clock.now();
    let sent = 0;
    for (const job of this.#o.store.listUndelivered()) {
      const age = now - (job.finishedAt ?? now);
      if (job.redeliveries >= this.#maxRedeliveries || age > this.#maxAgeMs) {
        this.#o.store.abandonDelivery(job.id, now);
        const why = job.redeliveries >= this.#maxRedeliveries ? `after ${job.redeliveries} restarts` : `${Math.round(age / 3_600_000)} h after it ended`;
        this.#o.log.warn(`gave up delivering the end of ${job.kind} job ${job.id} of ${job.userId} (${job.state}) ${why}`);
        continue;
      }
      this.#o.store.noteRedelivery(job.id);
      this.#o.hub.publish(job.id, job.userId, finalEvent(job));
      sent++;
    }
    if (sent > 0) this.#o.log.info(`sending again the end of ${sent} job(s) that had not reached their owners`);
    return sent;
  }
}

/** The event that ended a stored job, as it was published then. */
export function finalEvent(job: JobRecord): JobEvent {
  switch (job.state) {
    case 'done':
      return { type: 'result', result: job.result ?? {} };
    case 'cancelled':
      // Who cancelled is not stored; the owner is the likeliest.
      return { type: 'cancelled', partial: job.result, by: job.userId };
    default:
      return { type: 'failed', error: job.error ?? { code: 'RUNNER_FAILED', message: 'the job failed' } };
  }
}
