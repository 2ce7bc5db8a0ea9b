import type { Clock } from './clock.js';
import type { CrashPolicy, WorkerCrash } from './crash-policy.js';
import type { EventHub } from './events.js';
import type { ModelDescriptor } from './executor/executor.js';
import type { LiveJob, LiveJobs } from './live-jobs.js';
import type { QueueProjection } from './queue-projection.js';
import type { StepOutput } from './runner.js';
import type { SchedulerPolicy } from './scheduler/policy.js';
import type { JobRecordStore } from './store/job-store.js';
import { err, ok, type ErrorInfo, type JobEvent, type JobRecord, type JobResult, type Json, type Result } from './types.js';

export interface JobLifecycleOptions {
  jobs: LiveJobs;
  store: JobRecordStore;
  policy: SchedulerPolicy;
  hub: EventHub;
  projection: QueueProjection;
  crashPolicy: CrashPolicy;
  clock: Clock;
  /** The models the executor serves (empty while hearth starts). */
  models: ReadonlyMap<string, ModelDescriptor>;
  /** Frees a begun job's runner state in the worker (it ended while holding one). */
  release: (model: string, jobId: string) => void;
}

/** Who cancels: the owner, or an admin. */
export interface Actor {
  userId: string;
  admin?: boolean;
}

/**
 * A job's life, in one place: queued → running → done | failed | cancelled, and back to queued when a
 * crash or a stop interrupts it. Every change is written to the store first, then the live state and
 * the policy follow, then the owner is told (an event). Crashes are judged by the {@link CrashPolicy}
 * and carried out here.
 */
export class JobLifecycle {
  readonly #o: JobLifecycleOptions;

  constructor(options: JobLifecycleOptions) {
    this.#o = options;
  }

  /** Keeps a queued job in memory (not yet scheduled: see {@link schedule}). */
  admit(record: JobRecord, steps: number): LiveJob {
    const live: LiveJob = { record, begun: false, step: 0, steps, text: '' };
    this.#o.jobs.add(live);
    this.#o.projection.invalidate();
    return live;
  }

  /** Hands a waiting job to the scheduling policy (once its model is known). */
  schedule(live: LiveJob): void {
    const r = live.record;
    this.#o.policy.add({
      id: r.id,
      userId: r.userId,
      model: r.model,
      batchable: (this.#o.models.get(r.model)?.maxBatch ?? 1) > 1,
      weight: r.weight,
      seq: r.seq,
      remainingSeconds: r.estimateSeconds,
    });
    this.#o.projection.invalidate();
  }

  /** At start: the jobs the store holds as queued join the live ones (those already live stay as they are). */
  loadWaiting(records: readonly JobRecord[], stepsOf: (record: JobRecord) => number): void {
    for (const record of records) if (!this.#o.jobs.has(record.id)) this.admit(record, stepsOf(record));
  }

  /**
   * Once the models are known: every waiting job is scheduled in arrival order, or failed MODEL_MISSING
   * when its model is not served (declared in the config, but its runner did not come up).
   */
  scheduleWaiting(): void {
    const waiting = [...this.#o.jobs.values()].filter((j) => !j.begun).sort((a, b) => a.record.seq - b.record.seq);
    for (const live of waiting) {
      const model = this.#o.models.get(live.record.model);
      if (model && model.kind === live.record.kind) this.schedule(live);
      else {
        this.fail(live, {
          code: 'MODEL_MISSING',
          message: `no ${live.record.kind} model "${live.record.model}" is available`,
          facts: { given: live.record.model, allowed: [...this.#o.models.keys()] },
        });
      }
    }
  }

  /** `queued` → `running`: the job is about to be begun on the worker. */
  begin(live: LiveJob): void {
    live.record = this.#o.store.markRunning(live.record.id, this.#o.clock.now());
    this.#o.jobs.setBegun(live, true);
    live.text = '';
    live.step = 0;
    this.#o.projection.invalidate();
    this.#o.hub.publish(live.record.id, live.record.userId, { type: 'started', attempt: live.record.attempts });
  }

  /** A runner's event inside a step (token, progress, preview): kept and passed on. */
  runnerEvent(jobId: string, event: JobEvent): void {
    const live = this.#o.jobs.get(jobId);
    if (!live) return; // cancelled or failed meanwhile: drop late events
    if (event.type === 'token') live.text += event.text;
    if (event.type === 'progress') {
      live.step = event.step;
      live.steps = event.of;
    }
    this.#o.hub.publish(jobId, live.record.userId, event);
  }

  /**
   * What one step did for one job. A runner that reports progress says how far the job is; for one
   * that does not (a chat's decode), each step counts as one.
   */
  stepped(out: StepOutput, reportedProgress: boolean): void {
    const live = this.#o.jobs.get(out.jobId);
    if (!live) return;
    if (out.done) this.complete(live, out.done);
    else if (out.failed) this.fail(live, out.failed);
    else if (!reportedProgress) live.step++;
  }

  complete(live: LiveJob, result: JobResult): void {
    this.#finish(live, { state: 'done', result }, 'done');
    this.#o.hub.publish(live.record.id, live.record.userId, { type: 'result', result });
    this.#o.release(live.record.model, live.record.id);
  }

  fail(live: LiveJob, error: ErrorInfo, opts: { crashed?: boolean } = {}): void {
    const begun = live.begun;
    this.#finish(live, { state: 'failed', error, ...(opts.crashed ? { crashed: true } : {}) }, error.code);
    this.#o.hub.publish(live.record.id, live.record.userId, { type: 'failed', error });
    if (begun) this.#o.release(live.record.model, live.record.id);
  }

  /** Fails every one of these jobs that is still live. */
  failAll(jobIds: readonly string[], error: ErrorInfo): void {
    for (const id of jobIds) {
      const live = this.#o.jobs.get(id);
      if (live) this.fail(live, error);
    }
  }

  /**
   * Cancels a queued or running job; the owner or an admin may. The job ends as `cancelled` with its
   * partial output kept. Returns the live job as it was, so the caller can stop its step.
   */
  cancel(jobId: string, by: Actor): Result<{ record: JobRecord; wasBegun: boolean }> {
    const live = this.#o.jobs.get(jobId);
    if (!live) return err(this.#notLive(jobId));
    if (live.record.userId !== by.userId && !by.admin) {
      return err({ code: 'FORBIDDEN', message: 'only the job owner or an admin can cancel it', facts: { given: jobId } });
    }
    const wasBegun = live.begun;
    const partial: JobResult | null = live.text ? { text: live.text, stopped: true, stopReason: 'cancelled' } : null;
    const record = this.#finish(live, { state: 'cancelled', result: partial }, `cancelled by ${by.userId}`);
    this.#o.hub.publish(jobId, record.userId, { type: 'cancelled', partial, by: by.userId });
    return ok({ record, wasBegun });
  }

  /** Replaces the input of a job that has not begun (its runner would already have it). */
  amendPayload(jobId: string, payload: Json): Result<JobRecord> {
    const live = this.#o.jobs.get(jobId);
    if (!live) return err(this.#notLive(jobId));
    if (live.begun) {
      return err({ code: 'INVALID_INPUT', message: `job ${jobId} has already started; its input can no longer change`, facts: { given: jobId } });
    }
    live.record = this.#o.store.updatePayload(jobId, payload);
    return ok(live.record);
  }

  /**
   * Replaces a job's origin, durably: while it is queued or running, and after it ended until its end
   * is delivered (an adapter's final render may post one more message, and records it first, so a
   * kill -9 in that round trip leaves nothing a restart's re-delivered end cannot find). Refused once
   * the end is delivered (ALREADY_ENDED, `deliveredAt` set: nothing of it is shown again), and for an
   * unknown job (NOT_FOUND).
   */
  updateOrigin(jobId: string, origin: Json): Result<JobRecord> {
    const live = this.#o.jobs.get(jobId);
    if (live) {
      live.record = this.#o.store.updateOrigin(jobId, origin);
      return ok(live.record);
    }
    const stored = this.#o.store.getJob(jobId);
    // Not live and not ended: unknown, or not taken up yet (during recovery).
    if (!stored || stored.state === 'queued' || stored.state === 'running') return err(this.#notLive(jobId));
    if (stored.deliveredAt !== null) {
      return err({
        code: 'ALREADY_ENDED',
        message: `job ${jobId} has ended (${stored.state}) and its end was delivered; where its answer goes no longer changes`,
        facts: { jobId, kind: stored.kind, state: stored.state, deliveredAt: stored.deliveredAt },
      });
    }
    return ok(this.#o.store.updateOrigin(jobId, origin));
  }

  /**
   * The worker died. The crash policy judges each job it concerns (for `step` and `elsewhere`, only
   * jobs still begun: the others have no runner state to lose); the verdicts are carried out here.
   */
  workerCrashed(crash: WorkerCrash): void {
    const now = this.#o.clock.now();
    for (const verdict of this.#o.crashPolicy.judge(crash)) {
      const live = this.#o.jobs.get(verdict.jobId);
      if (!live) continue;
      if (verdict.action === 'fail') this.fail(live, verdict.error, { crashed: verdict.crashed });
      else if (live.begun) this.#requeue(live, now, verdict.note, verdict.blamed);
    }
  }

  /** A model loaded: the crash policy stops counting its earlier load crashes. */
  modelLoaded(model: string): void {
    this.#o.crashPolicy.loaded(model);
  }

  /** Begun jobs of the given ids (or all), as the crash policy needs them. */
  begunRecords(jobIds?: Iterable<string>): JobRecord[] {
    const ids = jobIds ? [...jobIds] : [...this.#o.jobs.values()].map((j) => j.record.id);
    const out: JobRecord[] = [];
    for (const id of ids) {
      const live = this.#o.jobs.get(id);
      if (live?.begun) out.push(live.record);
    }
    return out;
  }

  /** hearth stops: begun jobs go back to the queue (a clean stop is not a crash). */
  requeueBegun(note: string): void {
    const now = this.#o.clock.now();
    for (const live of this.#o.jobs.values()) if (live.begun) this.#requeue(live, now, note, false);
  }

  saveVirtualTimes(): void {
    const entries = [...this.#o.policy.virtualTimes()].map(([userId, vtime]) => ({ userId, vtime }));
    if (entries.length > 0) this.#o.store.saveVirtualTimes(entries);
  }

  /**
   * Why a job that is not live cannot be acted on: it has ended (a state, not a missing job: the
   * adapters say "already finished"), or there is no such job at all.
   */
  #notLive(jobId: string): ErrorInfo {
    const stored = this.#o.store.getJob(jobId);
    if (!stored) return { code: 'NOT_FOUND', message: `there is no job ${jobId}`, facts: { given: jobId } };
    // Not live but stored: ended. (`queued`/`running` here would be a job the engine has not taken up
    // yet, e.g. during recovery; it is told apart rather than called ended.)
    if (stored.state === 'queued' || stored.state === 'running') {
      return { code: 'NOT_FOUND', message: `job ${jobId} is not live yet`, facts: { given: jobId } };
    }
    return {
      code: 'ALREADY_ENDED',
      message: `job ${jobId} has already ended (${stored.state})`,
      facts: { jobId, kind: stored.kind, state: stored.state },
    };
  }

  #requeue(live: LiveJob, now: number, note: string, crashed: boolean): void {
    live.record = this.#o.store.markQueued(live.record.id, now, note, { crashed });
    this.#o.jobs.setBegun(live, false);
    live.step = 0;
    live.text = '';
    this.#o.projection.invalidate();
  }

  #finish(live: LiveJob, outcome: { state: 'done' | 'failed' | 'cancelled'; result?: JobResult | null; error?: ErrorInfo }, note: string): JobRecord {
    const record = this.#o.store.finish(live.record.id, outcome, this.#o.clock.now(), note);
    live.record = record;
    this.#o.jobs.delete(live);
    this.#o.policy.remove(record.id);
    this.#o.projection.invalidate();
    this.saveVirtualTimes();
    return record;
  }
}
