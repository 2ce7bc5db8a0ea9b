import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from './clock.js';
import { Admission } from './admission.js';
import { CrashPolicy } from './crash-policy.js';
import { Delivery } from './delivery.js';
import { Dispatcher } from './dispatcher.js';
import { EventHub, ReadinessSignal } from './events.js';
import type { Executor, ModelDescriptor } from './executor/executor.js';
import type { RunnerCounters } from './runner.js';
import type { JobFeed, Readiness } from './job-feed.js';
import { JobLifecycle, type Actor } from './job-lifecycle.js';
import { LiveJobs } from './live-jobs.js';
import { QueueProjection } from './queue-projection.js';
import { ResidencyManager } from './residency.js';
import type { ProjectedSlot, SchedulerPolicy } from './scheduler/policy.js';
import { VirtualTimeScheduler } from './scheduler/virtual-time-scheduler.js';
import type { JobRecordStore, UsageStore } from './store/job-store.js';
import { UsageMeter } from './usage-meter.js';
import { err, ok, type EngineEvent, type JobEvent, type JobKind, type JobRecord, type JobSpec, type Json, type Result } from './types.js';

export type { Actor } from './job-lifecycle.js';

export interface EngineLimits {
  /** Queued + running jobs one user may have. */
  maxQueuedPerUser: number;
  /**
   * GPU-seconds a user may use per UTC day; null or absent = no limit. Checked when a job is
   * submitted (refused DAILY_LIMIT) and again before a queued job first begins: one whose owner used
   * up the day meanwhile fails DAILY_LIMIT and its owner is told (admins exempt; see Dispatcher).
   */
  dailyGpuSeconds?: number | null;
  /** Crashes after which a job is failed instead of retried (default 2). */
  maxCrashes?: number;
  /** Restarts at which the end of a job not yet delivered is sent again before hearth gives up (default 5). */
  maxRedeliveries?: number;
}

export interface EngineLogger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface EngineOptions {
  /** Where jobs and the usage ledger are kept (the engine needs no conversations). */
  store: JobRecordStore & UsageStore;
  executor: Executor;
  /** VRAM for models, bytes. */
  vramBudgetBytes: number;
  limits: EngineLimits;
  clock?: Clock;
  policy?: SchedulerPolicy;
  /** Seconds one step of a model takes before any was measured, by kind. */
  initialSecondsPerStep?: Partial<Record<JobKind, number>>;
  /** Steps a job takes when its spec gives no estimate, by kind. */
  defaultSteps?: Partial<Record<JobKind, number>>;
  log?: EngineLogger;
  /**
   * The models the config names. Until `start()` has learned what the executor serves, a job for one
   * of these is accepted and waits (hearth is starting); a job for any other model is MODEL_MISSING.
   */
  declaredModels?: ReadonlyArray<{ model: string; kind: JobKind }>;
  /** Receives every error thrown by an event listener; nothing is swallowed. */
  onListenerError?: (error: unknown, event: EngineEvent) => void;
  newId?: () => string;
}

export interface SubmitOptions {
  /**
   * Admins are not held to the per-user queue cap or daily limit. The job remembers it, so the daily
   * limit is not applied to it when it starts either.
   */
  admin?: boolean;
}

export interface EngineSnapshot {
  running: Array<{ jobId: string; userId: string; kind: JobKind; model: string; step: number; of: number }>;
  queue: Array<ProjectedSlot & { kind: JobKind; model: string }>;
  loadedModels: string[];
  vramUsedBytes: number;
  vramBudgetBytes: number;
  models: ModelDescriptor[];
  steps: number;
  swaps: number;
  /** What the GPU is doing now. */
  current: { model: string; jobIds: string[] } | null;
  /** The runners' own counters by model (the chat model's conversation cache), where the executor reports them. */
  runnerCounters?: Record<string, RunnerCounters>;
}

const DEFAULT_SECONDS_PER_STEP: Record<JobKind, number> = { chat: 0.15, image: 0.5, caption: 1, embed: 0.2 };
const DEFAULT_STEPS: Record<JobKind, number> = { chat: 64, image: 27, caption: 1, embed: 1 };
const noopLog: EngineLogger = { info() {}, warn() {}, error() {} };

/**
 * The engine: takes jobs from commands, keeps them durable, shares the GPU fairly step by step, and
 * publishes one event stream per job. It never imports a platform or a model library: GPU work goes
 * through an {@link Executor}, durability through the store interfaces, the choice through a
 * {@link SchedulerPolicy}.
 *
 * This class is the front door and the wiring; the work is done by its parts, one reason to change
 * each: {@link Admission} (what may be queued), {@link JobLifecycle} (states, cancel, crash verdicts
 * from the {@link CrashPolicy}),
 * {@link Dispatcher} (the step loop: executor and residency; the daily limit before a job begins),
 * {@link UsageMeter} (charging, rates, the daily limit), {@link QueueProjection} (positions, ETAs,
 * `queued` events) and {@link Delivery} (ends that have not reached their owners, sent again after a restart).
 */
export class Engine implements JobFeed {
  readonly #store: JobRecordStore & UsageStore;
  readonly #executor: Executor;
  readonly #clock: Clock;
  readonly #residency: ResidencyManager;
  readonly #log: EngineLogger;
  readonly #newId: () => string;
  readonly #models = new Map<string, ModelDescriptor>();
  readonly #jobs = new LiveJobs();
  readonly #hub: EventHub;
  readonly #readiness: ReadinessSignal;
  readonly #crashPolicy: CrashPolicy;
  readonly #policy: SchedulerPolicy;
  readonly #projection: QueueProjection;
  readonly #meter: UsageMeter;
  readonly #lifecycle: JobLifecycle;
  readonly #dispatcher: Dispatcher;
  readonly #admission: Admission;
  readonly #delivery: Delivery;
  #starting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: EngineOptions) {
    this.#store = options.store;
    this.#executor = options.executor;
    this.#clock = options.clock ?? systemClock;
    this.#residency = new ResidencyManager(options.vramBudgetBytes);
    this.#log = options.log ?? noopLog;
    this.#newId = options.newId ?? (() => randomUUID());
    const describe = (e: unknown): string => (e instanceof Error ? e.message : String(e));
    this.#hub = new EventHub(options.onListenerError ?? ((e) => this.#log.error(`event listener failed: ${describe(e)}`)));
    this.#readiness = new ReadinessSignal((e) => this.#log.error(`readiness listener failed: ${describe(e)}`));
    this.#crashPolicy = new CrashPolicy(options.limits.maxCrashes ?? 2);
    this.#policy = options.policy ?? new VirtualTimeScheduler();
    this.#projection = new QueueProjection(this.#jobs, this.#policy, this.#hub, this.#clock);
    this.#meter = new UsageMeter({
      store: this.#store,
      policy: this.#policy,
      jobs: this.#jobs,
      clock: this.#clock,
      dailyGpuSeconds: options.limits.dailyGpuSeconds ?? null,
      initialSecondsPerStep: { ...DEFAULT_SECONDS_PER_STEP, ...options.initialSecondsPerStep },
      defaultSteps: { ...DEFAULT_STEPS, ...options.defaultSteps },
    });
    this.#lifecycle = new JobLifecycle({
      jobs: this.#jobs,
      store: this.#store,
      policy: this.#policy,
      hub: this.#hub,
      projection: this.#projection,
      crashPolicy: this.#crashPolicy,
      clock: this.#clock,
      models: this.#models,
      release: (model, jobId) => this.#dispatcher.release(model, jobId),
    });
    this.#dispatcher = new Dispatcher({
      jobs: this.#jobs,
      lifecycle: this.#lifecycle,
      executor: this.#executor,
      residency: this.#residency,
      policy: this.#policy,
      meter: this.#meter,
      projection: this.#projection,
      models: this.#models,
      clock: this.#clock,
      log: this.#log,
    });
    this.#admission = new Admission({
      served: this.#models,
      declared: new Map((options.declaredModels ?? []).map((d) => [d.model, { kind: d.kind }])),
      countActive: (userId) => this.#store.countActive(userId),
      meter: this.#meter,
      maxQueuedPerUser: options.limits.maxQueuedPerUser,
    });
    this.#delivery = new Delivery({
      store: this.#store,
      jobs: this.#jobs,
      hub: this.#hub,
      clock: this.#clock,
      log: this.#log,
      ...(options.limits.maxRedeliveries !== undefined ? { maxRedeliveries: options.limits.maxRedeliveries } : {}),
    });
    this.#executor.onCrash((reason) => this.#dispatcher.workerDied(reason));
  }

  /** GPU steps run so far. */
  get steps(): number {
    return this.#dispatcher.steps;
  }

  get residency(): ResidencyManager {
    return this.#residency;
  }

  /**
   * Recovers what a previous run left (running jobs go back to the queue; see {@link CrashPolicy}; the
   * end of jobs that ended but never reached their owner is published again; see {@link Delivery}),
   * learns the models from the executor (which can take seconds: jobs for declared models are
   * accepted meanwhile), fails waiting jobs whose model is not served, and starts scheduling.
   * Subscribe adapters before calling it, so they hear about recovered jobs. Returns the same promise
   * when called again.
   */
  start(opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.#starting ??= this.#start(opts);
    return this.#starting;
  }

  async #start(opts: { signal?: AbortSignal }): Promise<void> {
    // Recover first (fast, local): jobs submitted while the models are described then count the
    // recovered ones ahead of them.
    const report = this.#crashPolicy.recover(this.#store, this.#clock.now());
    this.#lifecycle.loadWaiting(this.#store.listJobs({ states: ['queued'] }), (r) => this.#meter.stepsOf(r));
    if (report.requeued.length > 0) this.#log.info(`resuming ${report.requeued.length} job(s) that were running when hearth stopped`);
    // The adapters have subscribed: results stored but never sent reach their owners now.
    this.#delivery.resend();
    const described = await this.#executor.describe(opts);
    if (this.#readiness.state === 'stopping') return;
    for (const d of described) {
      this.#models.set(d.model, d);
      this.#residency.setSize(d.model, d.vramBytes);
    }
    this.#lifecycle.scheduleWaiting();
    this.#policy.restoreVirtualTimes(this.#store.loadVirtualTimes());
    this.#readiness.set('ready');
    // Every waiting job hears its place again, now without `starting`.
    this.#projection.forgetPublished();
    this.#projection.publish(true);
    this.#dispatcher.start();
  }

  /** Where hearth stands: starting (models not yet known), ready, or stopping. */
  readiness(): Readiness {
    return this.#readiness.state;
  }

  /** Calls the listener on each change of readiness. Returns the unsubscribe function. */
  onReadiness(listener: (readiness: Readiness) => void): () => void {
    return this.#readiness.on(listener);
  }

  /** The models the executor can run (none until start() has learned them). */
  models(): ModelDescriptor[] {
    return [...this.#models.values()];
  }

  /**
   * Queues a job. It is in the store before this returns, so the caller may tell its owner it is
   * queued. Expected refusals come back as values: QUEUE_FULL, DAILY_LIMIT, MODEL_MISSING, SHUTTING_DOWN.
   *
   * While hearth is starting, a job for a declared model is accepted too: stored, told `queued` with
   * `starting: true`, and scheduled once the models are up (or failed MODEL_MISSING if its model
   * turns out not to be served).
   */
  submit(spec: JobSpec, opts: SubmitOptions = {}): Result<JobRecord> {
    const readiness = this.#readiness.state;
    const refusal = this.#admission.refusal(spec, readiness, opts.admin === true);
    if (refusal) return err(refusal);
    const { steps, estimateSeconds } = this.#meter.estimate(spec);
    const record = this.#store.insertJob({ ...spec, id: this.#newId(), estimateSeconds, admin: opts.admin === true }, this.#clock.now());
    const live = this.#lifecycle.admit(record, steps);
    if (readiness === 'starting') {
      // Not schedulable yet (the policy needs the model's batch size): it waits for start().
      this.#projection.publishStarting(live);
      return ok(record);
    }
    this.#lifecycle.schedule(live);
    this.#projection.publish(true);
    this.#dispatcher.wake();
    return ok(record);
  }

  /**
   * Cancels a queued or running job; the owner or an admin may. A running job's runner gets an abort;
   * the job ends as `cancelled` with its partial output kept.
   */
  cancel(jobId: string, by: Actor): Result<JobRecord> {
    const r = this.#lifecycle.cancel(jobId, by);
    if (!r.ok) return r;
    this.#dispatcher.cancelled(jobId, r.value.record.model, r.value.wasBegun);
    return ok(r.value.record);
  }

  /**
   * Replaces the input of a job that has not started yet (a chat given the description of an image
   * once that image's caption job has ended). Refused once the job has begun: its runner has the input.
   */
  amendPayload(jobId: string, payload: Json): Result<JobRecord> {
    return this.#lifecycle.amendPayload(jobId, payload);
  }

  /**
   * Replaces a job's origin, durably: an adapter records there what it has posted (follow-up message
   * ids), so after a restart it can tidy them up or continue them. Also after the job ended, until its
   * end is delivered (see {@link JobFeed.updateOrigin}); ALREADY_ENDED once delivered.
   */
  updateOrigin(jobId: string, origin: Json): Result<JobRecord> {
    return this.#lifecycle.updateOrigin(jobId, origin);
  }

  /**
   * Records that the end of an ended job reached its owner (an adapter sent its final message, or the
   * platform refused it for good). Until then, the end is published again at each start (bounded:
   * see {@link Delivery}). NOT_FOUND for an unknown job; INVALID_INPUT for one that has not ended.
   */
  markDelivered(jobId: string): Result<JobRecord> {
    return this.#delivery.markDelivered(jobId);
  }

  /**
   * Deletes ended jobs whose result the caller has taken and keeps elsewhere (the knowledge index's
   * embed jobs: their vectors are in the index; their rows would pile up over a backfill). Only the
   * owner's own jobs, or any for an admin; a job still queued or running is left alone, as is what
   * its steps were charged (the usage ledger). Returns how many were deleted.
   */
  discard(jobIds: readonly string[], by: Actor): number {
    const mine = jobIds.filter((id) => {
      if (this.#jobs.has(id)) return false;
      const record = this.#store.getJob(id);
      return record !== undefined && (by.admin === true || record.userId === by.userId);
    });
    return this.#store.deleteEnded(mine);
  }

  /** Subscribes to every job's events. Returns the unsubscribe function. */
  on(listener: (e: EngineEvent) => void): () => void {
    return this.#hub.on(listener);
  }

  /** Same as {@link on}: the {@link JobFeed} name. */
  subscribe(listener: (e: EngineEvent) => void): () => void {
    return this.#hub.on(listener);
  }

  /** One job's events until it ends (result, failed or cancelled). */
  watch(jobId: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<JobEvent> {
    return this.#hub.watch(jobId, opts);
  }

  getJob(jobId: string): JobRecord | undefined {
    return this.#jobs.get(jobId)?.record ?? this.#store.getJob(jobId);
  }

  /** Where the queue stands: for /queue, /hearth status and the dashboard. */
  snapshot(): EngineSnapshot {
    const running = [...this.#jobs.values()]
      .filter((j) => j.begun)
      .map((j) => ({ jobId: j.record.id, userId: j.record.userId, kind: j.record.kind, model: j.record.model, step: j.step, of: j.steps }));
    const queue = this.#projection.slots().map((slot) => {
      const j = this.#jobs.get(slot.jobId);
      return { ...slot, kind: j?.record.kind ?? 'chat', model: j?.record.model ?? '' };
    });
    return {
      running,
      queue,
      loadedModels: [...this.#residency.loaded()],
      vramUsedBytes: this.#residency.usedBytes(),
      vramBudgetBytes: this.#residency.budgetBytes,
      models: this.models(),
      steps: this.#dispatcher.steps,
      swaps: this.#residency.swaps,
      current: this.#dispatcher.current,
      ...(this.#executor.counters ? { runnerCounters: this.runnerCounters() } : {}),
    };
  }

  /** The runners' own counters by model (totals across worker restarts); empty where the executor keeps none. */
  runnerCounters(): Record<string, RunnerCounters> {
    return this.#executor.counters?.() ?? {};
  }

  /** Resolves when nothing is queued or running (jobs waiting for hearth to start count as queued). */
  whenIdle(): Promise<void> {
    return this.#dispatcher.whenIdle();
  }

  /**
   * Stops scheduling, aborts the running step, puts begun jobs back in the queue (a clean stop is not
   * a crash), saves fairness state and closes the executor. Returns the same promise when called again;
   * every step runs even if one fails.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#readiness.set('stopping');
      const errors: unknown[] = [];
      const attempt = async (step: () => unknown): Promise<void> => {
        try {
          await step();
        } catch (e) {
          errors.push(e);
        }
      };
      await attempt(() => this.#dispatcher.stop());
      await attempt(() => this.#lifecycle.requeueBegun('hearth stopped'));
      await attempt(() => this.#lifecycle.saveVirtualTimes());
      await attempt(() => this.#executor.close());
      this.#dispatcher.releaseIdleWaiters();
      if (errors.length > 0) throw new AggregateError(errors, 'the engine did not close cleanly');
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
