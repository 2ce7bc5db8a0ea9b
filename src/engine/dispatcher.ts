import type { Clock } from './clock.js';
import { CrashPolicy } from './crash-policy.js';
import type { Executor, ModelDescriptor } from './executor/executor.js';
import type { JobLifecycle } from './job-lifecycle.js';
import type { LiveJob, LiveJobs } from './live-jobs.js';
import type { QueueProjection } from './queue-projection.js';
import type { ResidencyManager } from './residency.js';
import type { StepOutput } from './runner.js';
import type { PickContext, SchedulerPolicy } from './scheduler/policy.js';
import type { UsageMeter } from './usage-meter.js';
import { HearthError, toErrorInfo } from './types.js';

export interface DispatcherLogger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface DispatcherOptions {
  jobs: LiveJobs;
  lifecycle: JobLifecycle;
  executor: Executor;
  residency: ResidencyManager;
  policy: SchedulerPolicy;
  meter: UsageMeter;
  projection: QueueProjection;
  models: ReadonlyMap<string, ModelDescriptor>;
  clock: Clock;
  log: DispatcherLogger;
}

/** What the GPU is doing now: the step's model and the jobs to blame if the worker dies. */
interface CurrentStep {
  model: string;
  jobIds: string[];
  controller: AbortController;
  /** True only while the executor's step call is out: its outputs then free what cancelled jobs hold. */
  stepping: boolean;
}

/**
 * The step loop: asks the policy for the next step, makes room for its model (residency), begins the
 * jobs that have not begun, runs the step on the executor, and hands what came back to the lifecycle
 * and the meter. It also tracks runner state being freed, so a new job of a model begins only once
 * the slot of a job that just ended is free.
 */
export class Dispatcher {
  readonly #o: DispatcherOptions;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #stopping = false;
  #current: CurrentStep | undefined;
  #steps = 0;
  /** Counts worker deaths: a step planned on one worker is not run on the next (its models are not loaded there). */
  #generation = 0;
  #idleWaiters: Array<() => void> = [];
  readonly #ending = new Map<string, Set<Promise<void>>>();

  constructor(options: DispatcherOptions) {
    this.#o = options;
  }

  /** GPU steps run so far. */
  get steps(): number {
    return this.#steps;
  }

  get current(): { model: string; jobIds: string[] } | null {
    return this.#current ? { model: this.#current.model, jobIds: [...this.#current.jobIds] } : null;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** New work may be pickable. */
  wake(): void {
    this.#wake?.();
  }

  /** Resolves when nothing is queued or running. */
  whenIdle(): Promise<void> {
    if (this.#o.jobs.size === 0 && !this.#current) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * A job was cancelled: stop its step if it runs alone (what the step returns then frees its runner
   * state), else free its runner state now if it had any. Only while the step call is out: a cancel
   * that lands after the step returned, before the step is over, must free the state itself, or the
   * job would hold its runner slot (a chat sequence) for good.
   */
  cancelled(jobId: string, model: string, wasBegun: boolean): void {
    const current = this.#current;
    if (current?.stepping && current.jobIds.includes(jobId) && current.jobIds.length === 1) current.controller.abort();
    else if (wasBegun) this.release(model, jobId);
  }

  /** The worker went down on its own: nothing is loaded any more, and begun jobs lost their state. */
  workerDied(reason: string): void {
    this.#generation++;
    this.#o.log.warn(`${reason}; restarting it`);
    this.#o.residency.clear();
    // Jobs in the step that died are judged when the step's promise rejects; the others here.
    const inStep = new Set(this.#current?.jobIds ?? []);
    const bystanders = this.#o.lifecycle.begunRecords().filter((r) => !inStep.has(r.id));
    this.#o.lifecycle.workerCrashed({ during: 'elsewhere', reason, jobs: bystanders });
  }

  /** Frees a job's runner state. Tracked, so a new job of the model is begun only once the slot is free. */
  release(model: string, jobId: string): void {
    const ending = (async () => {
      try {
        await this.#o.executor.end(model, jobId);
      } catch (e) {
        // A dead or stopping worker has already dropped the state.
        if (e instanceof HearthError && (e.code === 'WORKER_CRASHED' || e.code === 'SHUTTING_DOWN')) return;
        this.#o.log.warn(`could not free job ${jobId} in the worker: ${e instanceof Error ? e.message : String(e)}`);
      }
    })();
    let set = this.#ending.get(model);
    if (!set) this.#ending.set(model, (set = new Set()));
    set.add(ending);
    void ending.finally(() => set.delete(ending));
  }

  /** Stops picking, aborts the running step and waits for the loop to end. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#current?.controller.abort();
    this.#wake?.();
    await this.#loop;
  }

  /** Lets everyone waiting for idle go (the engine closed). */
  releaseIdleWaiters(): void {
    for (const w of this.#idleWaiters.splice(0)) w();
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      const pick = this.#o.policy.pick(this.#pickContext());
      if (!pick) {
        this.releaseIdleWaiters();
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      try {
        await this.#execute(pick.model, pick.jobIds);
      } catch (e) {
        // #execute turns every expected failure into job outcomes; reaching here is a bug. Log it and
        // fail the picked jobs, so the loop never spins on the same pick.
        this.#o.log.error(`scheduler step failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        this.#o.lifecycle.failAll(pick.jobIds, { code: 'RUNNER_FAILED', message: 'hearth hit an internal error running this job' });
      }
    }
  }

  #pickContext(): PickContext {
    return {
      isResident: (m) => this.#o.residency.isLoaded(m),
      fitsWithoutSwap: (m) => this.#o.residency.fitsWithoutSwap(m),
      maxBatch: (m) => this.#o.models.get(m)?.maxBatch ?? 1,
      begun: (m) => this.#o.jobs.begunIds(m),
    };
  }

  async #execute(model: string, jobIds: string[]): Promise<void> {
    const controller = new AbortController();
    // Nobody is to blame for a worker death during the load; the crash policy counts it against the model.
    const current: CurrentStep = { model, jobIds: [], controller, stepping: false };
    this.#current = current;
    const signal = controller.signal;
    // The worker may die while this step waits (for a slot to be freed, for a begin): then its model is
    // no longer loaded, and the jobs begun here were put back in the queue by workerDied. The step is
    // dropped and the loop picks again (loading the model on the new worker), rather than beginning and
    // stepping jobs on a worker that never loaded their model.
    const generation = this.#generation;
    const workerChanged = (): boolean => this.#generation !== generation;
    try {
      if (!(await this.#ensureLoaded(model, jobIds, signal))) return;
      // Runner slots (chat sequences) of jobs that just ended must be free before new jobs begin.
      const ending = this.#ending.get(model);
      if (ending && ending.size > 0) await Promise.all([...ending]);
      const stepIds: string[] = [];
      for (const id of jobIds) {
        if (workerChanged()) return;
        const live = this.#o.jobs.get(id);
        if (!live) continue;
        if (!live.begun) {
          if (this.#overDailyLimit(live)) continue;
          // Only the job being begun is to blame if the worker dies now.
          current.jobIds = [id];
          try {
            if (!(await this.#begin(live, signal))) continue;
            // Cancelled while it was being begun, and the runner began it anyway: free its slot.
            if (!this.#o.jobs.has(id)) {
              this.release(model, id);
              continue;
            }
          } catch (e) {
            this.#failed([id], e);
            return;
          }
        }
        stepIds.push(id);
      }
      if (stepIds.length === 0 || signal.aborted || workerChanged()) return;
      current.jobIds = stepIds;
      await this.#step(current, stepIds, signal);
    } finally {
      this.#current = undefined;
      this.#o.projection.publish();
    }
  }

  async #step(current: CurrentStep, stepIds: string[], signal: AbortSignal): Promise<void> {
    const model = current.model;
    const started = this.#o.clock.now();
    // Runners that report progress say how far each job is; the others' steps are counted one by one.
    const reported = new Set<string>();
    let outputs: StepOutput[];
    current.stepping = true;
    try {
      outputs = await this.#o.executor.step(model, stepIds, {
        signal,
        emit: (jobId, event) => {
          if (event.type === 'progress') reported.add(jobId);
          this.#o.lifecycle.runnerEvent(jobId, event);
        },
      });
    } catch (e) {
      current.stepping = false;
      this.#o.meter.charge(model, stepIds, [], started);
      this.#failed(stepIds, e);
      // Cancelled during the failed step: free what the runner may still hold.
      for (const id of stepIds) if (!this.#o.jobs.has(id)) this.release(model, id);
      return;
    }
    current.stepping = false;
    this.#steps++;
    this.#o.residency.touch(model);
    this.#o.meter.charge(model, stepIds, outputs, started);
    for (const out of outputs) {
      // Cancelled during the step: free its runner state now.
      if (!this.#o.jobs.has(out.jobId)) this.release(model, out.jobId);
      else this.#o.lifecycle.stepped(out, reported.has(out.jobId));
    }
  }

  async #ensureLoaded(model: string, jobIds: string[], signal: AbortSignal): Promise<boolean> {
    const plan = this.#o.residency.plan(model);
    if (!plan.load) return true;
    try {
      for (const m of plan.evict) {
        await this.#o.executor.unload(m);
        this.#o.residency.unloaded(m);
        this.#o.log.info(`unloaded model ${m} to make room for ${model}`);
      }
      await this.#o.executor.load(model, { signal });
      this.#o.residency.commit(model, plan);
      this.#o.lifecycle.modelLoaded(model);
      return true;
    } catch (e) {
      if (signal.aborted && this.#stopping) return false;
      if (CrashPolicy.isWorkerCrash(e)) {
        const waiting = jobIds.map((id) => this.#o.jobs.get(id)?.record).filter((r) => r !== undefined);
        this.#o.lifecycle.workerCrashed({ during: 'load', model, reason: e.message, jobs: waiting });
      } else this.#failed(jobIds, e);
      return false;
    }
  }

  /**
   * The daily limit, checked again before a job begins for the first time: a job whose owner has
   * used up today's GPU-seconds while it waited does not start. It fails DAILY_LIMIT (facts: given,
   * allowed) and its owner is told at once, rather than holding a queue slot until midnight UTC.
   * Admins' jobs (remembered by the job) are exempt, as at submit; so is a job that had already
   * begun once (a restart interrupted it: it was allowed to run and goes on).
   */
  #overDailyLimit(live: LiveJob): boolean {
    const r = live.record;
    if (r.admin || r.attempts > 0) return false;
    const over = this.#o.meter.overDailyLimit(r.userId, 'start');
    if (!over) return false;
    this.#o.lifecycle.fail(live, over);
    return true;
  }

  /**
   * Begins a job on the worker. False when it did not begin (failed, cancelled, stopping); throws
   * WORKER_CRASHED when the worker died, which ends this step.
   */
  async #begin(live: LiveJob, signal: AbortSignal): Promise<boolean> {
    this.#o.lifecycle.begin(live);
    try {
      const { steps } = await this.#o.executor.begin(
        { id: live.record.id, kind: live.record.kind, model: live.record.model, userId: live.record.userId, payload: live.record.payload },
        { signal },
      );
      live.steps = steps;
      return true;
    } catch (e) {
      if (CrashPolicy.isWorkerCrash(e)) throw e;
      // Stopping: close() puts the job back in the queue. Cancelled meanwhile: already ended.
      if (this.#stopping || !this.#o.jobs.has(live.record.id)) return false;
      this.#o.lifecycle.fail(live, toErrorInfo(e));
      return false;
    }
  }

  /** A step, a load or a begin threw: the worker died under these jobs, or the runner failed them. */
  #failed(jobIds: readonly string[], e: unknown): void {
    if (CrashPolicy.isWorkerCrash(e)) {
      this.#o.lifecycle.workerCrashed({ during: 'step', reason: e.message, jobs: this.#o.lifecycle.begunRecords(jobIds) });
      return;
    }
    // While stopping, an aborted step's error is no failure: close() puts its jobs back in the queue.
    if (this.#stopping) return;
    this.#o.lifecycle.failAll(jobIds, toErrorInfo(e));
  }
}
