import type { Clock } from './clock.js';
import type { LiveJobs } from './live-jobs.js';
import type { StepOutput } from './runner.js';
import type { SchedulerPolicy } from './scheduler/policy.js';
import type { JobRecordStore, UsageStore } from './store/job-store.js';
import type { ErrorInfo, JobKind, JobRecord, JobSpec } from './types.js';

export interface UsageMeterOptions {
  store: UsageStore & Pick<JobRecordStore, 'getJob'>;
  policy: SchedulerPolicy;
  jobs: LiveJobs;
  clock: Clock;
  /** GPU-seconds a user may use per UTC day; null = no limit. */
  dailyGpuSeconds: number | null;
  /** Seconds one step of a model takes before any was measured, by kind. */
  initialSecondsPerStep: Record<JobKind, number>;
  /** Steps a job takes when its spec gives no estimate, by kind. */
  defaultSteps: Record<JobKind, number>;
}

/**
 * Usage metering: what a step really cost, split between the jobs it advanced and charged to their
 * owners (the ledger and the fair scheduler), the per-model step rates learned from it (for the
 * estimates and ETAs), and the daily limit.
 */
export class UsageMeter {
  readonly #o: UsageMeterOptions;
  readonly #secondsPerStep = new Map<string, number>();

  constructor(options: UsageMeterOptions) {
    this.#o = options;
  }

  /** Seconds a step of this model takes: measured (moving average) or the kind's initial guess. */
  rate(model: string, kind: JobKind): number {
    return this.#secondsPerStep.get(model) ?? this.#o.initialSecondsPerStep[kind];
  }

  /** The steps a new job is expected to take, and its cost estimate. */
  estimate(spec: JobSpec): { steps: number; estimateSeconds: number } {
    const steps = spec.estimatedSteps ?? this.#o.defaultSteps[spec.kind];
    return { steps, estimateSeconds: steps * this.rate(spec.model, spec.kind) };
  }

  /** The steps of a stored job (after a restart), from its estimate at today's rate. */
  stepsOf(record: JobRecord): number {
    return Math.max(1, Math.round(record.estimateSeconds / this.rate(record.model, record.kind)));
  }

  /**
   * DAILY_LIMIT when the user has used up today's GPU-seconds (UTC day); undefined when they may go
   * on. Asked when a job is submitted and again when a queued job is about to begin (`start`): jobs
   * queued while the budget lasted do not run past it.
   */
  overDailyLimit(userId: string, when: 'submit' | 'start' = 'submit'): ErrorInfo | undefined {
    const limit = this.#o.dailyGpuSeconds;
    if (limit === null) return undefined;
    const used = this.#o.store.usageSince(userId, startOfUtcDay(this.#o.clock.now()));
    if (used < limit) return undefined;
    const spent = `you have used ${used.toFixed(0)} of your ${limit} GPU-seconds today`;
    return {
      code: 'DAILY_LIMIT',
      message: when === 'start' ? `${spent}, so this job was not started; the limit resets at midnight UTC` : spent,
      facts: { given: round(used), allowed: limit },
    };
  }

  /**
   * Charges a step that started at `started` and ends now: its seconds are split between its jobs by
   * the shares the runner reported (a batched decode: tokens each), or evenly.
   */
  charge(model: string, jobIds: readonly string[], outputs: readonly StepOutput[], started: number): void {
    const now = this.#o.clock.now();
    const seconds = Math.max(0, (now - started) / 1000);
    if (seconds === 0 || jobIds.length === 0) return;
    const shares = new Map<string, number>();
    for (const id of jobIds) shares.set(id, 1);
    for (const o of outputs) if (o.share !== undefined && shares.has(o.jobId)) shares.set(o.jobId, Math.max(0, o.share));
    let total = [...shares.values()].reduce((a, b) => a + b, 0);
    if (total === 0) {
      for (const id of jobIds) shares.set(id, 1);
      total = jobIds.length;
    }
    const charges = [];
    for (const [jobId, share] of shares) {
      // A job cancelled during its step is no longer live, but what its step used is still charged.
      const record = this.#o.jobs.get(jobId)?.record ?? this.#o.store.getJob(jobId);
      if (!record) continue;
      const s = (seconds * share) / total;
      this.#o.store.addUsage(record.userId, jobId, s, now);
      charges.push({ userId: record.userId, jobId, seconds: s });
    }
    this.#o.policy.charge(charges);
    const prev = this.#secondsPerStep.get(model);
    this.#secondsPerStep.set(model, prev === undefined ? seconds : prev * 0.8 + seconds * 0.2);
  }
}

function startOfUtcDay(ms: number): number {
  return ms - (ms % 86_400_000);
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
