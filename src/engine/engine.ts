import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from './clock.js';
import type { Executor, ModelDescriptor } from './executor/executor.js';
import type { JobFeed, Readiness } from './job-feed.js';
import { ResidencyManager } from './residency.js';
import type { StepOutput } from './runner.js';
import type { PickContext, ProjectedSlot, SchedulerPolicy } from './scheduler/policy.js';
import { VirtualTimeScheduler } from './scheduler/virtual-time-scheduler.js';
import type { JobStore } from './store/job-store.js';
import {
  HearthError,
  err,
  ok,
  type EngineEvent,
  type ErrorInfo,
  type JobEvent,
  type JobKind,
  type JobRecord,
  type JobResult,
  type JobSpec,
  type Json,
  type Result,
} from './types.js';

export interface EngineLimits {
  /** Queued + running jobs one user may have. */
  maxQueuedPerUser: number;
  /** GPU-seconds a user may use per UTC day; null or absent = no limit. */
  dailyGpuSeconds?: number | null;
  /** Crashes after which a job is failed instead of retried (default 2). */
  maxCrashes?: number;
}

export interface EngineLogger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface EngineOptions {
  store: JobStore;
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
  /** Admins are not held to the per-user queue cap or daily limit. */
  admin?: boolean;
}

export interface Actor {
  userId: string;
  admin?: boolean;
}

/** A job in memory while it is queued or running. */
interface LiveJob {
  record: JobRecord;
  begun: boolean;
  step: number;
  steps: number;
  text: string;
  lastQueued?: { position: number; etaSeconds: number };
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
}

const DEFAULT_SECONDS_PER_STEP: Record<JobKind, number> = { chat: 0.15, image: 0.5, caption: 1 };
const DEFAULT_STEPS: Record<JobKind, number> = { chat: 64, image: 27, caption: 1 };
const noopLog: EngineLogger = { info() {}, warn() {}, error() {} };

/**
 * The engine: takes jobs from commands, keeps them durable, shares the GPU fairly step by step, and
 * publishes one event stream per job. It never imports a platform or a model library: GPU work goes
 * through an {@link Executor}, durability through a {@link JobStore}, the choice through a
 * {@link SchedulerPolicy}.
 */
export class Engine implements JobFeed {
  readonly #store: JobStore;
  readonly #executor: Executor;
  readonly #clock: Clock;
  readonly #policy: SchedulerPolicy;
  readonly #residency: ResidencyManager;
  readonly #limits: Required<Pick<EngineLimits, 'maxQueuedPerUser' | 'maxCrashes'>> & { daily: number | null };
  readonly #log: EngineLogger;
  readonly #onListenerError: NonNullable<EngineOptions['onListenerError']>;
  readonly #newId: () => string;
  readonly #secondsPerStep = new Map<string, number>();
  readonly #initialSecondsPerStep: Record<JobKind, number>;
  readonly #defaultSteps: Record<JobKind, number>;

  readonly #jobs = new Map<string, LiveJob>();
  readonly #models = new Map<string, ModelDescriptor>();
  readonly #listeners = new Set<(e: EngineEvent) => void>();
  readonly #declared = new Map<string, JobKind>();
  readonly #readinessListeners = new Set<(r: Readiness) => void>();
  #readiness: Readiness = 'starting';
  /** True once start() has learned the executor's models; before that, jobs wait unscheduled. */
  #described = false;
  #starting: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #stopping = false;
  #current: { model: string; jobIds: string[]; controller: AbortController } | undefined;
  #steps = 0;
  #idleWaiters: Array<() => void> = [];
  #lastProjection = 0;
  #queueChanged = true;
  readonly #loadCrashes = new Map<string, number>();
  readonly #ending = new Map<string, Set<Promise<void>>>();
  /** Begun (runner-holding) jobs by model, kept as they change: the pick asks for them every step. */
  readonly #begun = new Map<string, Set<string>>();

  constructor(options: EngineOptions) {
    this.#store = options.store;
    this.#executor = options.executor;
    this.#clock = options.clock ?? systemClock;
    this.#policy = options.policy ?? new VirtualTimeScheduler();
    this.#residency = new ResidencyManager(options.vramBudgetBytes);
    this.#limits = {
      maxQueuedPerUser: options.limits.maxQueuedPerUser,
      maxCrashes: options.limits.maxCrashes ?? 2,
      daily: options.limits.dailyGpuSeconds ?? null,
    };
    this.#log = options.log ?? noopLog;
    this.#onListenerError =
      options.onListenerError ?? ((e) => this.#log.error(`event listener failed: ${e instanceof Error ? e.message : String(e)}`));
    this.#newId = options.newId ?? (() => randomUUID());
    this.#initialSecondsPerStep = { ...DEFAULT_SECONDS_PER_STEP, ...options.initialSecondsPerStep };
    this.#defaultSteps = { ...DEFAULT_STEPS, ...options.defaultSteps };
    for (const d of options.declaredModels ?? []) this.#declared.set(d.model, d.kind);
    this.#executor.onCrash((reason) => this.#onWorkerCrash(reason));
  }

  /** GPU steps run so far. */
  get steps(): number {
    return this.#steps;
  }

  get residency(): ResidencyManager {
    return this.#residency;
  }

  /**
   * Learns the models, recovers what a previous run left (running jobs are retried once; a job that
   * went down with the worker twice fails, and its owner is told through a `failed` event), and starts
   * scheduling. Subscribe adapters before calling it, so they hear about recovered jobs.
   */
  start(opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.#starting ??= this.#start(opts);
    return this.#starting;
  }

  async #start(opts: { signal?: AbortSignal }): Promise<void> {
    // Recover first (fast, local): jobs submitted while the models are being described then count
    // the recovered ones ahead of them, and owners of failed jobs hear at once.
    const report = this.#store.recoverAfterRestart(this.#clock.now(), this.#limits.maxCrashes);
    for (const job of report.failed) {
      if (job.error) this.#publish(job.id, job.userId, { type: 'failed', error: job.error });
    }
    for (const record of this.#store.listJobs({ states: ['queued'] })) {
      if (!this.#jobs.has(record.id)) this.#jobs.set(record.id, this.#liveJob(record));
    }
    if (report.requeued.length > 0) this.#log.info(`resuming ${report.requeued.length} job(s) that were running when hearth stopped`);
    const described = await this.#executor.describe(opts);
    if (this.#stopping) return;
    for (const d of described) {
      this.#models.set(d.model, d);
      this.#residency.setSize(d.model, d.vramBytes);
    }
    this.#described = true;
    const waiting = [...this.#jobs.values()].sort((a, b) => a.record.seq - b.record.seq);
    for (const live of waiting) {
      const model = this.#models.get(live.record.model);
      if (!model || model.kind !== live.record.kind) {
        // Declared in the config but not served (its runner failed to describe, or the config changed).
        this.#fail(live, {
          code: 'MODEL_MISSING',
          message: `no ${live.record.kind} model "${live.record.model}" is available`,
          facts: { given: live.record.model, allowed: [...this.#models.keys()] },
        });
        continue;
      }
      // Estimates made while starting used the default rate; the step count stays what it was.
      delete live.lastQueued;
      this.#schedule(live);
    }
    this.#policy.restoreVirtualTimes(this.#store.loadVirtualTimes());
    this.#setReadiness('ready');
    this.#publishPositions(true);
    this.#loop = this.#run();
  }

  /** Where hearth stands: starting (models not yet known), ready, or stopping. */
  readiness(): Readiness {
    return this.#readiness;
  }

  /** Calls the listener on each change of readiness. Returns the unsubscribe function. */
  onReadiness(listener: (readiness: Readiness) => void): () => void {
    this.#readinessListeners.add(listener);
    return () => this.#readinessListeners.delete(listener);
  }

  /** The models the executor can run. */
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
    if (this.#stopping) return err({ code: 'SHUTTING_DOWN', message: 'hearth is shutting down; try again in a minute' });
    const known: Map<string, { kind: JobKind }> = this.#described
      ? this.#models
      : new Map([...this.#declared].map(([m, kind]) => [m, { kind }]));
    const model = known.get(spec.model);
    if (!model) {
      return err({
        code: 'MODEL_MISSING',
        message: `no ${spec.kind} model is configured`,
        facts: { given: spec.model, allowed: [...known.keys()] },
      });
    }
    if (model.kind !== spec.kind) {
      return err({
        code: 'INVALID_INPUT',
        message: `model "${spec.model}" runs ${model.kind} jobs, not ${spec.kind}`,
        facts: { given: spec.kind, expected: model.kind },
      });
    }
    if (!opts.admin) {
      const active = this.#store.countActive(spec.userId);
      if (active >= this.#limits.maxQueuedPerUser) {
        return err({
          code: 'QUEUE_FULL',
          message: `you already have ${active} jobs queued or running; the limit is ${this.#limits.maxQueuedPerUser}`,
          facts: { given: active + 1, allowed: this.#limits.maxQueuedPerUser },
        });
      }
      if (this.#limits.daily !== null) {
        const used = this.#store.usageSince(spec.userId, startOfUtcDay(this.#clock.now()));
        if (used >= this.#limits.daily) {
          return err({
            code: 'DAILY_LIMIT',
            message: `you have used ${used.toFixed(0)} of your ${this.#limits.daily} GPU-seconds today`,
            facts: { given: round(used), allowed: this.#limits.daily },
          });
        }
      }
    }
    const steps = spec.estimatedSteps ?? this.#defaultSteps[spec.kind];
    const estimateSeconds = steps * this.#rate(spec.model, spec.kind);
    const record = this.#store.insertJob({ ...spec, id: this.#newId(), estimateSeconds }, this.#clock.now());
    const live = this.#liveJob(record, steps);
    this.#jobs.set(record.id, live);
    if (!this.#described) {
      // Not schedulable yet (the policy needs the model's batch size): its place is its arrival order.
      const position = [...this.#jobs.values()].filter((j) => j.record.seq < record.seq).length;
      live.lastQueued = { position, etaSeconds: 0 };
      this.#publish(record.id, record.userId, { type: 'queued', position, etaSeconds: 0, starting: true });
      return ok(record);
    }
    this.#schedule(live);
    this.#queueChanged = true;
    this.#publishPositions(true);
    this.#wake?.();
    return ok(record);
  }

  /**
   * Cancels a queued or running job; the owner or an admin may. A running job's runner gets an abort;
   * the job ends as `cancelled` with its partial output kept.
   */
  cancel(jobId: string, by: Actor): Result<JobRecord> {
    const live = this.#jobs.get(jobId);
    if (!live) {
      const stored = this.#store.getJob(jobId);
      if (!stored) return err({ code: 'NOT_FOUND', message: `there is no job ${jobId}`, facts: { given: jobId } });
      return err({ code: 'NOT_FOUND', message: `job ${jobId} has already ended (${stored.state})`, facts: { given: jobId, state: stored.state } });
    }
    if (live.record.userId !== by.userId && !by.admin) {
      return err({ code: 'FORBIDDEN', message: 'only the job owner or an admin can cancel it', facts: { given: jobId } });
    }
    const partial: JobResult | null = live.text ? { text: live.text, stopped: true, stopReason: 'cancelled' } : null;
    const record = this.#finish(live, { state: 'cancelled', result: partial }, `cancelled by ${by.userId}`);
    this.#publish(jobId, record.userId, { type: 'cancelled', partial, by: by.userId });
    const current = this.#current;
    if (current?.jobIds.includes(jobId) && current.jobIds.length === 1) current.controller.abort();
    else if (live.begun) void this.#end(live.record.model, jobId);
    return ok(record);
  }

  /**
   * Replaces the input of a job that has not started yet (a chat given the description of an image
   * once that image's caption job has ended). Refused once the job has begun: its runner has the input.
   */
  amendPayload(jobId: string, payload: Json): Result<JobRecord> {
    const live = this.#jobs.get(jobId);
    if (!live) return err({ code: 'NOT_FOUND', message: `job ${jobId} is not waiting`, facts: { given: jobId } });
    if (live.begun) {
      return err({ code: 'INVALID_INPUT', message: `job ${jobId} has already started; its input can no longer change`, facts: { given: jobId } });
    }
    live.record = this.#store.updatePayload(jobId, payload);
    return ok(live.record);
  }

  /**
   * Replaces a queued or running job's origin, durably: an adapter records there what it has posted
   * (follow-up message ids), so after a restart it can tidy them up or continue them.
   */
  updateOrigin(jobId: string, origin: Json): Result<JobRecord> {
    const live = this.#jobs.get(jobId);
    if (!live) return err({ code: 'NOT_FOUND', message: `job ${jobId} is not queued or running`, facts: { given: jobId } });
    live.record = this.#store.updateOrigin(jobId, origin);
    return ok(live.record);
  }

  /** Subscribes to every job's events. Returns the unsubscribe function. */
  on(listener: (e: EngineEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Same as {@link on}: the {@link JobFeed} name. */
  subscribe(listener: (e: EngineEvent) => void): () => void {
    return this.on(listener);
  }

  /** One job's events until it ends (result, failed or cancelled). */
  async *watch(jobId: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<JobEvent> {
    const queue: JobEvent[] = [];
    let notify: (() => void) | undefined;
    const off = this.on((e) => {
      if (e.jobId !== jobId) return;
      queue.push(e.event);
      notify?.();
    });
    const onAbort = (): void => notify?.();
    opts.signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        while (queue.length > 0) {
          const event = queue.shift()!;
          yield event;
          if (event.type === 'result' || event.type === 'failed' || event.type === 'cancelled') return;
        }
        if (opts.signal?.aborted) return;
        await new Promise<void>((resolve) => (notify = resolve));
        notify = undefined;
      }
    } finally {
      off();
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  getJob(jobId: string): JobRecord | undefined {
    return this.#jobs.get(jobId)?.record ?? this.#store.getJob(jobId);
  }

  /** Where the queue stands: for /queue, /hearth status and the dashboard. */
  snapshot(): EngineSnapshot {
    const running = [...this.#jobs.values()]
      .filter((j) => j.begun)
      .map((j) => ({ jobId: j.record.id, userId: j.record.userId, kind: j.record.kind, model: j.record.model, step: j.step, of: j.steps }));
    const queue = this.#projection().map((slot) => {
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
      steps: this.#steps,
      swaps: this.#residency.swaps,
      current: this.#current ? { model: this.#current.model, jobIds: [...this.#current.jobIds] } : null,
    };
  }

  /** Resolves when nothing is queued or running (jobs waiting for hearth to start count as queued). */
  whenIdle(): Promise<void> {
    if (this.#jobs.size === 0 && !this.#current) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Stops scheduling, aborts the running step, puts begun jobs back in the queue (a clean stop is not
   * a crash), saves fairness state and closes the executor. Returns the same promise when called again;
   * every step runs even if one fails.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stopping = true;
      this.#setReadiness('stopping');
      this.#current?.controller.abort();
      this.#wake?.();
      const errors: unknown[] = [];
      try {
        await this.#loop;
      } catch (e) {
        errors.push(e);
      }
      try {
        const now = this.#clock.now();
        for (const live of this.#jobs.values()) {
          if (live.begun) this.#store.markQueued(live.record.id, now, 'hearth stopped');
        }
      } catch (e) {
        errors.push(e);
      }
      try {
        this.#saveVirtualTimes();
      } catch (e) {
        errors.push(e);
      }
      try {
        await this.#executor.close();
      } catch (e) {
        errors.push(e);
      }
      for (const w of this.#idleWaiters.splice(0)) w();
      if (errors.length > 0) throw new AggregateError(errors, 'the engine did not close cleanly');
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---------------------------------------------------------------------------------------------

  #liveJob(record: JobRecord, steps?: number): LiveJob {
    return {
      record,
      begun: false,
      step: 0,
      steps: steps ?? Math.max(1, Math.round(record.estimateSeconds / this.#rate(record.model, record.kind))),
      text: '',
    };
  }

  /** Hands a waiting job to the scheduling policy (once the models are known). */
  #schedule(live: LiveJob): void {
    const record = live.record;
    const model = this.#models.get(record.model);
    this.#policy.add({
      id: record.id,
      userId: record.userId,
      model: record.model,
      batchable: (model?.maxBatch ?? 1) > 1,
      weight: record.weight,
      seq: record.seq,
      remainingSeconds: record.estimateSeconds,
    });
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      const pick = this.#policy.pick(this.#pickContext());
      if (!pick) {
        for (const w of this.#idleWaiters.splice(0)) w();
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      try {
        await this.#execute(pick.model, pick.jobIds);
      } catch (e) {
        // #execute turns every expected failure into job outcomes; reaching here is a bug. Log it and
        // fail the picked jobs, so the loop never spins on the same pick.
        this.#log.error(`scheduler step failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        const info: ErrorInfo = { code: 'RUNNER_FAILED', message: 'hearth hit an internal error running this job' };
        for (const id of pick.jobIds) {
          const live = this.#jobs.get(id);
          if (live) this.#fail(live, info);
        }
      }
    }
  }

  #pickContext(): PickContext {
    return {
      isResident: (m) => this.#residency.isLoaded(m),
      fitsWithoutSwap: (m) => this.#residency.fitsWithoutSwap(m),
      maxBatch: (m) => this.#models.get(m)?.maxBatch ?? 1,
      begun: (m) => [...(this.#begun.get(m) ?? [])],
    };
  }

  async #execute(model: string, jobIds: string[]): Promise<void> {
    const controller = new AbortController();
    // Nobody is to blame for a worker death during the load; #ensureLoaded counts it against the model.
    this.#current = { model, jobIds: [], controller };
    const signal = controller.signal;
    try {
      if (!(await this.#ensureLoaded(model, jobIds, signal))) return;
      // Runner slots (chat sequences) of jobs that just ended must be free before new jobs begin.
      const ending = this.#ending.get(model);
      if (ending && ending.size > 0) await Promise.all([...ending]);
      const stepIds: string[] = [];
      for (const id of jobIds) {
        const live = this.#jobs.get(id);
        if (!live) continue;
        if (!live.begun) {
          // Only the job being begun is to blame if the worker dies now.
          this.#current.jobIds = [id];
          try {
            if (!(await this.#begin(live, signal))) continue;
          } catch (e) {
            this.#stepFailed([id], e);
            return;
          }
        }
        stepIds.push(id);
      }
      if (stepIds.length === 0 || signal.aborted) return;
      this.#current.jobIds = stepIds;
      const started = this.#clock.now();
      let outputs: StepOutput[];
      try {
        outputs = await this.#executor.step(model, stepIds, {
          signal,
          emit: (jobId, event) => this.#onRunnerEvent(jobId, event),
        });
      } catch (e) {
        this.#chargeStep(stepIds, [], started);
        this.#stepFailed(stepIds, e);
        for (const id of stepIds) if (!this.#jobs.has(id)) void this.#end(model, id);
        return;
      }
      this.#steps++;
      this.#residency.touch(model);
      this.#chargeStep(stepIds, outputs, started);
      for (const out of outputs) this.#onStepOutput(model, out);
    } finally {
      this.#current = undefined;
      this.#publishPositions(this.#queueChanged);
    }
  }

  async #ensureLoaded(model: string, jobIds: string[], signal: AbortSignal): Promise<boolean> {
    const plan = this.#residency.plan(model);
    if (!plan.load) return true;
    try {
      for (const m of plan.evict) {
        await this.#executor.unload(m);
        this.#residency.unloaded(m);
        this.#log.info(`unloaded model ${m} to make room for ${model}`);
      }
      await this.#executor.load(model, { signal });
      this.#residency.commit(model, plan);
      this.#loadCrashes.delete(model);
      return true;
    } catch (e) {
      if (signal.aborted && this.#stopping) return false;
      if (e instanceof HearthError && e.code === 'WORKER_CRASHED') {
        // A model whose load takes the worker down: retry once, then fail the jobs that wanted it,
        // so a broken model file cannot keep the queue spinning.
        const crashes = (this.#loadCrashes.get(model) ?? 0) + 1;
        this.#loadCrashes.set(model, crashes);
        if (crashes < this.#limits.maxCrashes) return false;
        this.#loadCrashes.delete(model);
        const info: ErrorInfo = {
          code: 'MODEL_INVALID',
          message: `loading model "${model}" stopped the GPU worker ${crashes} times`,
          facts: { model, crashes, reason: e.message },
        };
        for (const id of jobIds) {
          const live = this.#jobs.get(id);
          if (live) this.#fail(live, info);
        }
        return false;
      }
      this.#stepFailed(jobIds, e);
      return false;
    }
  }

  async #begin(live: LiveJob, signal: AbortSignal): Promise<boolean> {
    const now = this.#clock.now();
    live.record = this.#store.markRunning(live.record.id, now);
    this.#setBegun(live, true);
    live.text = '';
    live.step = 0;
    this.#queueChanged = true;
    this.#publish(live.record.id, live.record.userId, { type: 'started', attempt: live.record.attempts });
    try {
      const { steps } = await this.#executor.begin(
        { id: live.record.id, kind: live.record.kind, model: live.record.model, userId: live.record.userId, payload: live.record.payload },
        { signal },
      );
      live.steps = steps;
      return true;
    } catch (e) {
      if (e instanceof HearthError && e.code === 'WORKER_CRASHED') throw e;
      // Stopping: close() puts the job back in the queue. Cancelled meanwhile: already ended.
      if (this.#stopping || !this.#jobs.has(live.record.id)) return false;
      this.#fail(live, errorInfo(e));
      return false;
    }
  }

  #onRunnerEvent(jobId: string, event: JobEvent): void {
    const live = this.#jobs.get(jobId);
    if (!live) return; // cancelled or failed meanwhile: drop late events
    if (event.type === 'token') live.text += event.text;
    if (event.type === 'progress') {
      live.step = event.step;
      live.steps = event.of;
    }
    this.#publish(jobId, live.record.userId, event);
  }

  #onStepOutput(model: string, out: StepOutput): void {
    const live = this.#jobs.get(out.jobId);
    if (!live) {
      // Cancelled during the step: free its runner state now.
      void this.#end(model, out.jobId);
      return;
    }
    if (out.done) {
      const result = out.done;
      this.#finish(live, { state: 'done', result }, 'done');
      this.#publish(live.record.id, live.record.userId, { type: 'result', result });
      void this.#end(model, out.jobId);
    } else if (out.failed) {
      this.#fail(live, out.failed);
    } else if (live.record.kind !== 'image') {
      live.step++;
    }
  }

  #chargeStep(jobIds: string[], outputs: StepOutput[], started: number): void {
    const seconds = Math.max(0, (this.#clock.now() - started) / 1000);
    if (seconds === 0 || jobIds.length === 0) return;
    const shares = new Map<string, number>();
    for (const id of jobIds) shares.set(id, 1);
    for (const o of outputs) if (o.share !== undefined && shares.has(o.jobId)) shares.set(o.jobId, Math.max(0, o.share));
    let total = [...shares.values()].reduce((a, b) => a + b, 0);
    if (total === 0) {
      for (const id of jobIds) shares.set(id, 1);
      total = jobIds.length;
    }
    const now = this.#clock.now();
    const charges = [];
    for (const [jobId, share] of shares) {
      const record = this.#jobs.get(jobId)?.record ?? this.#store.getJob(jobId);
      if (!record) continue;
      const s = (seconds * share) / total;
      this.#store.addUsage(record.userId, jobId, s, now);
      charges.push({ userId: record.userId, jobId, seconds: s });
    }
    this.#policy.charge(charges);
    const model = this.#jobs.get(jobIds[0]!)?.record.model ?? this.#store.getJob(jobIds[0]!)?.model;
    if (model) {
      const prev = this.#secondsPerStep.get(model);
      this.#secondsPerStep.set(model, prev === undefined ? seconds : prev * 0.8 + seconds * 0.2);
    }
  }

  /** A step, a load or a begin threw: the worker died, or the runner failed these jobs. */
  #stepFailed(jobIds: string[], e: unknown): void {
    if (this.#stopping && !(e instanceof HearthError && e.code === 'WORKER_CRASHED')) return;
    if (e instanceof HearthError && e.code === 'WORKER_CRASHED') {
      const now = this.#clock.now();
      for (const id of jobIds) {
        const live = this.#jobs.get(id);
        if (!live) continue;
        if (!live.begun) continue;
        if (live.record.crashes + 1 >= this.#limits.maxCrashes) {
          this.#fail(live, {
            code: 'WORKER_CRASHED',
            message: 'this job stopped the GPU worker twice, so it was not tried again',
            facts: { crashes: live.record.crashes + 1, reason: e.message },
          });
        } else {
          live.record = this.#store.markQueued(id, now, `worker crashed: ${e.message}`, { crashed: true });
          this.#requeued(live);
        }
      }
      return;
    }
    const info = errorInfo(e);
    for (const id of jobIds) {
      const live = this.#jobs.get(id);
      if (live) this.#fail(live, info);
    }
  }

  #onWorkerCrash(reason: string): void {
    this.#log.warn(`${reason}; restarting it`);
    this.#residency.clear();
    const inStep = new Set(this.#current?.jobIds ?? []);
    const now = this.#clock.now();
    // Jobs that were begun but not part of the step that crashed lost their state too; they start
    // again without counting a crash against them.
    for (const live of this.#jobs.values()) {
      if (!live.begun || inStep.has(live.record.id)) continue;
      live.record = this.#store.markQueued(live.record.id, now, `worker restarted: ${reason}`);
      this.#requeued(live);
    }
  }

  #setBegun(live: LiveJob, begun: boolean): void {
    live.begun = begun;
    let set = this.#begun.get(live.record.model);
    if (!set) this.#begun.set(live.record.model, (set = new Set()));
    if (begun) set.add(live.record.id);
    else set.delete(live.record.id);
  }

  #requeued(live: LiveJob): void {
    this.#setBegun(live, false);
    live.step = 0;
    live.text = '';
    this.#queueChanged = true;
  }

  #fail(live: LiveJob, error: ErrorInfo): void {
    this.#finish(live, { state: 'failed', error }, error.code);
    this.#publish(live.record.id, live.record.userId, { type: 'failed', error });
    if (live.begun) void this.#end(live.record.model, live.record.id);
  }

  #finish(live: LiveJob, outcome: { state: 'done' | 'failed' | 'cancelled'; result?: JobResult | null; error?: ErrorInfo }, note: string): JobRecord {
    const record = this.#store.finish(live.record.id, outcome, this.#clock.now(), note);
    live.record = record;
    this.#jobs.delete(record.id);
    this.#begun.get(record.model)?.delete(record.id);
    this.#policy.remove(record.id);
    this.#queueChanged = true;
    this.#saveVirtualTimes();
    return record;
  }

  /** Frees a job's runner state. Tracked, so a new job of the model is begun only once the slot is free. */
  #end(model: string, jobId: string): Promise<void> {
    const ending = (async () => {
      try {
        await this.#executor.end(model, jobId);
      } catch (e) {
        if (e instanceof HearthError && (e.code === 'WORKER_CRASHED' || e.code === 'SHUTTING_DOWN')) return;
        this.#log.warn(`could not free job ${jobId} in the worker: ${e instanceof Error ? e.message : String(e)}`);
      }
    })();
    let set = this.#ending.get(model);
    if (!set) this.#ending.set(model, (set = new Set()));
    set.add(ending);
    void ending.finally(() => set.delete(ending));
    return ending;
  }

  #rate(model: string, kind: JobKind): number {
    return this.#secondsPerStep.get(model) ?? this.#initialSecondsPerStep[kind];
  }

  #projection(): ProjectedSlot[] {
    const running = new Set([...this.#jobs.values()].filter((j) => j.begun).map((j) => j.record.id));
    return this.#policy.project(running);
  }

  /** Publishes `queued` events whose position changed, or whose ETA moved noticeably. */
  #publishPositions(force: boolean): void {
    const now = this.#clock.now();
    if (!force && now - this.#lastProjection < 1000) return;
    this.#lastProjection = now;
    this.#queueChanged = false;
    for (const slot of this.#projection()) {
      const live = this.#jobs.get(slot.jobId);
      if (!live || live.begun) continue;
      const eta = Math.round(slot.etaSeconds);
      const last = live.lastQueued;
      const moved = !last || last.position !== slot.position || Math.abs(last.etaSeconds - eta) > Math.max(2, last.etaSeconds * 0.2);
      if (!moved) continue;
      live.lastQueued = { position: slot.position, etaSeconds: eta };
      this.#publish(slot.jobId, slot.userId, { type: 'queued', position: slot.position, etaSeconds: eta });
    }
  }

  #saveVirtualTimes(): void {
    const entries = [...this.#policy.virtualTimes()].map(([userId, vtime]) => ({ userId, vtime }));
    if (entries.length > 0) this.#store.saveVirtualTimes(entries);
  }

  #setReadiness(readiness: Readiness): void {
    if (this.#readiness === readiness) return;
    this.#readiness = readiness;
    for (const l of this.#readinessListeners) {
      try {
        l(readiness);
      } catch (error) {
        this.#log.error(`readiness listener failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  #publish(jobId: string, userId: string, event: JobEvent): void {
    const e: EngineEvent = { jobId, userId, event };
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch (error) {
        this.#onListenerError(error, e);
      }
    }
  }
}

function errorInfo(e: unknown): ErrorInfo {
  if (e instanceof HearthError) return e.toInfo();
  return { code: 'RUNNER_FAILED', message: e instanceof Error ? e.message : String(e) };
}

function startOfUtcDay(ms: number): number {
  return ms - (ms % 86_400_000);
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
