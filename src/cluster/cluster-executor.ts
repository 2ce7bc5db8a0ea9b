/**
 * The coordinator's executor: GPU work runs on the workers of a cluster, handed over through BullMQ.
 * The engine still decides, fairly, which job goes next; this executor only places it.
 *
 * - `begin` places the job on a live worker that serves its model and has room (its capacity less the
 *   jobs placed there), waiting until one has; the job goes to that worker's own queue, so nothing
 *   waits in Redis in arrival order: at most the one job the engine picked waits here, in memory.
 *   It resolves once the worker's runner has begun the job (its steps), or rejects with its error.
 * - The worker then runs the job to its end on its own, its steps taking turns with its other jobs;
 *   tokens, progress and previews stream back at once (the emit of the job's latest `step` call).
 * - `step` waits until the job has advanced on the worker (or ended) and reports that: the engine's
 *   step loop keeps turning while several workers run jobs side by side.
 * - `end` of a job still running (cancelled) sends a cancel to its worker.
 * - A worker found dead (no heartbeat) fails its jobs' next `step` (or their `begin`) with
 *   WORKER_CRASHED: the engine's crash policy runs them again, elsewhere, once.
 *
 * Models are described with `maxBatch` 1 and no VRAM: batching and residency are each worker's own.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ExecStepOptions, Executor, ModelDescriptor } from '../engine/executor/executor.js';
import type { RunnerJob, StepOutput } from '../engine/runner.js';
import { HearthError, messageOf, type JobEvent, type JobKind } from '../engine/types.js';
import { telemetryOff, type WorkerStatus } from '../monitoring/index.js';
import { KEYS, closeRedis, connectRedis, firstConnect, redactRedisUrl, scrubRedisPassword } from './redis.js';
import { chooseWorker } from './placement.js';
import { decodeOutcome, decodeProgress, type Outcome } from './wire.js';
import { WorkerRegistry, type WorkerView } from './worker-registry.js';

export interface ClusterExecutorOptions {
  redisUrl: string;
  /** For `rediss://`: a PEM file of the CA that signed Redis's certificate (`cluster.tlsCaFile`). */
  tlsCaFile?: string;
  /** Seconds between worker heartbeats (`cluster.heartbeatSeconds`), as the workers use. */
  heartbeatMs: number;
  /** Models the coordinator's config names: described even before a worker serving them has joined. */
  declaredModels?: ReadonlyArray<{ model: string; kind: JobKind }>;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

/** A worker, for the dashboard, the status command, /metrics and tests. */
export interface ClusterWorkerInfo extends WorkerStatus {
  instance: string;
  models: ModelDescriptor[];
}

/** Where a job was placed (kept for the last 1,000 placements). */
export interface Placement {
  jobId: string;
  model: string;
  worker: string;
  at: number;
}

type Ended = Outcome | { t: 'crashed'; reason: string };

interface RemoteJob {
  job: RunnerJob;
  bullId: string;
  worker: WorkerView;
  steps: number | undefined;
  /** Steps done on the worker since the last `step` reported them, and their shares. */
  stepped: number;
  share: number;
  ended: Ended | undefined;
  /** The latest step's emit; events before the first step wait in `buffered`. */
  emit: ExecStepOptions['emit'] | undefined;
  buffered: JobEvent[];
  wake: Set<() => void>;
}

export class ClusterExecutor implements Executor {
  readonly #o: ClusterExecutorOptions;
  readonly #log: NonNullable<ClusterExecutorOptions['log']>;
  readonly epoch = randomUUID().slice(0, 8);
  readonly #jobs = new Map<string, RemoteJob>();
  readonly #byBull = new Map<string, RemoteJob>();
  readonly #placements: Placement[] = [];
  readonly #waiters = new Set<() => void>();
  #redis: Redis | undefined;
  #registry: WorkerRegistry | undefined;
  #starting: Promise<WorkerRegistry> | undefined;
  #closing: Promise<void> | undefined;
  #attempt = 0;

  constructor(options: ClusterExecutorOptions) {
    this.#o = options;
    const log = options.log ?? (() => {});
    // Redis errors may quote what they were given: the URL's password never reaches a log line.
    this.#log = (level, message) => log(level, scrubRedisPassword(message, options.redisUrl));
  }

  /**
   * Connects, starts a new coordinator run (work placed by an earlier run is stale: workers drop it),
   * and waits until a worker serves every declared model, or three heartbeats, whichever is first.
   */
  async describe(opts: { signal?: AbortSignal } = {}): Promise<ModelDescriptor[]> {
    const registry = await this.#start();
    const deadline = Date.now() + this.#o.heartbeatMs * 3;
    const declared = this.#o.declaredModels ?? [];
    while (Date.now() < deadline && !declared.every((d) => this.#served(d.model))) {
      opts.signal?.throwIfAborted();
      await this.#changed(opts.signal, deadline - Date.now());
    }
    const out = new Map<string, ModelDescriptor>();
    for (const w of registry.workers()) {
      for (const m of w.beat.models) if (!out.has(m.model)) out.set(m.model, { model: m.model, kind: m.kind, maxBatch: 1, vramBytes: 0 });
    }
    for (const d of declared) if (!out.has(d.model)) out.set(d.model, { model: d.model, kind: d.kind, maxBatch: 1, vramBytes: 0 });
    return [...out.values()];
  }

  /** Workers load their models themselves, when their first job comes. */
  async load(): Promise<void> {
    await this.#start();
  }

  async unload(): Promise<void> {}

  async begin(job: RunnerJob, opts: { signal?: AbortSignal } = {}): Promise<{ steps: number }> {
    await this.#start();
    this.#drop(job.id);
    const worker = await this.#place(job.model, opts.signal);
    const bullId = `${this.epoch}-${job.id}-${++this.#attempt}`;
    const remote: RemoteJob = { job, bullId, worker, steps: undefined, stepped: 0, share: 0, ended: undefined, emit: undefined, buffered: [], wake: new Set() };
    this.#jobs.set(job.id, remote);
    this.#byBull.set(bullId, remote);
    worker.assigned.add(bullId);
    worker.lastPlacedAt = Date.now();
    this.#placements.push({ jobId: job.id, model: job.model, worker: worker.beat.name, at: Date.now() });
    if (this.#placements.length > 1000) this.#placements.splice(0, this.#placements.length - 1000);
    try {
      await worker.queue.add('run', { epoch: this.epoch, job }, { jobId: bullId, attempts: 1, removeOnComplete: true, removeOnFail: true });
      await this.#until(remote, () => remote.steps !== undefined || remote.ended !== undefined, opts.signal);
    } catch (e) {
      this.#drop(job.id);
      throw e;
    }
    const ended = remote.ended;
    if (remote.steps !== undefined) return { steps: remote.steps };
    this.#drop(job.id);
    throw this.#endedError(ended);
  }

  async step(_model: string, jobIds: string[], opts: ExecStepOptions): Promise<StepOutput[]> {
    const outputs: StepOutput[] = [];
    for (const jobId of jobIds) {
      const remote = this.#jobs.get(jobId);
      if (!remote) {
        outputs.push({ jobId, failed: { code: 'NOT_FOUND', message: `job ${jobId} is not running on any worker`, facts: { given: jobId } } });
        continue;
      }
      remote.emit = opts.emit;
      for (const e of remote.buffered.splice(0)) opts.emit(jobId, e);
      try {
        await this.#until(remote, () => remote.stepped > 0 || remote.ended !== undefined, opts.signal);
      } catch (e) {
        // Aborted (a cancel, or shutdown): the job's end, or close, stops it on the worker.
        if (opts.signal?.aborted) {
          outputs.push({ jobId });
          continue;
        }
        throw e;
      }
      const ended = remote.ended;
      if (ended?.t === 'done') outputs.push({ jobId, done: ended.result });
      else if (ended?.t === 'failed' && ended.error.code !== 'WORKER_CRASHED') outputs.push({ jobId, failed: ended.error });
      else if (ended !== undefined) {
        this.#drop(jobId);
        throw this.#endedError(ended);
      } else {
        outputs.push({ jobId, share: remote.share });
        remote.stepped = 0;
        remote.share = 0;
      }
    }
    return outputs;
  }

  async end(_model: string, jobId: string): Promise<void> {
    this.#drop(jobId);
  }

  /** Worker deaths fail only their own jobs (at their next step), never the whole executor. */
  onCrash(): () => void {
    return () => {};
  }

  /** The live workers. */
  workers(): ClusterWorkerInfo[] {
    return (this.#registry?.workers() ?? []).map((w) => ({
      name: w.beat.name,
      instance: w.beat.instance,
      host: w.beat.host,
      models: w.beat.models,
      vramBudgetBytes: w.beat.vramBudgetBytes,
      capacity: w.beat.capacity,
      draining: w.beat.draining,
      running: [...this.#jobs.values()]
        .filter((r) => r.worker === w && r.ended === undefined)
        .map((r) => ({ jobId: r.job.id, kind: r.job.kind, model: r.job.model, userId: r.job.userId })),
      gpu: w.beat.gpu ?? telemetryOff(`worker ${w.beat.name} does not report GPU telemetry`),
      beatAt: w.beat.beatAt ?? w.beat.startedAt,
    }));
  }

  placements(): readonly Placement[] {
    return [...this.#placements];
  }

  /** Stops placing, cancels the jobs still running on workers and disconnects. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const w of [...this.#waiters]) w();
      for (const id of [...this.#jobs.keys()]) this.#drop(id);
      const registry = await this.#starting?.catch(() => undefined);
      await registry?.close();
      if (this.#redis) await closeRedis(this.#redis);
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #start(): Promise<WorkerRegistry> {
    if (this.#closing) return Promise.reject(new HearthError('SHUTTING_DOWN', 'hearth is shutting down'));
    this.#starting ??= (async () => {
      const redis = connectRedis({ url: this.#o.redisUrl, ...(this.#o.tlsCaFile ? { tlsCaFile: this.#o.tlsCaFile } : {}) }, 'hearth-coordinator');
      this.#redis = redis;
      await firstConnect(redis, this.#o.redisUrl);
      redis.on('error', (e: Error) => this.#log('warn', `Redis: ${e.message}`));
      await redis.set(KEYS.epoch, this.epoch);
      const registry = new WorkerRegistry({
        redis,
        heartbeatMs: this.#o.heartbeatMs,
        log: this.#log,
        listener: {
          progress: (_w, bullId, data) => this.#progress(bullId, data),
          finished: (w, bullId, outcome, failedReason) => this.#finished(w, bullId, outcome, failedReason),
          died: (w, reason) => this.#died(w, reason),
          changed: () => this.#notify(),
        },
      });
      this.#registry = registry;
      await registry.start();
      // Work an earlier run placed is stale (its jobs are queued again in the store): the workers
      // drop it on this message (or on their next heartbeat), and what still waits is removed.
      for (const w of registry.workers()) {
        await redis.publish(KEYS.control(w.beat.instance), JSON.stringify({ t: 'epoch', epoch: this.epoch }));
        await w.queue.drain().catch((e: unknown) => this.#log('warn', `could not clear the queue of ${w.beat.name}: ${messageOf(e)}`));
      }
      this.#log('info', `coordinator run ${this.epoch} on ${redactRedisUrl(this.#o.redisUrl)}: ${registry.workers().length} worker(s)`);
      return registry;
    })();
    return this.#starting;
  }

  #served(model: string): boolean {
    return (this.#registry?.workers() ?? []).some((w) => w.beat.models.some((m) => m.model === model));
  }

  /** The worker with the most room among those serving the model; waits until one has room. */
  async #place(model: string, signal: AbortSignal | undefined): Promise<WorkerView> {
    for (;;) {
      if (this.#closing) throw new HearthError('SHUTTING_DOWN', 'hearth is shutting down');
      signal?.throwIfAborted();
      const live = this.#registry?.workers() ?? [];
      const i = chooseWorker(
        live.map((w) => ({ models: w.beat.models, capacity: w.beat.capacity, assigned: w.assigned.size, draining: w.beat.draining, lastPlacedAt: w.lastPlacedAt })),
        model,
      );
      const best = i >= 0 ? live[i] : undefined;
      if (best) return best;
      await this.#changed(signal);
    }
  }

  #progress(bullId: string, data: unknown): void {
    const remote = this.#byBull.get(bullId);
    if (!remote || remote.ended) return;
    const p = decodeProgress(data);
    if (!p.ok) {
      this.#log('warn', `worker ${remote.worker.beat.name} sent progress that breaks the protocol (ignored): ${p.problem}`);
      return;
    }
    const v = p.value;
    if (v.t === 'begun') remote.steps = v.steps;
    else if (v.t === 'stepped') {
      remote.stepped++;
      remote.share += v.share;
    } else if (remote.emit) remote.emit(remote.job.id, v.event);
    else remote.buffered.push(v.event);
    this.#wake(remote);
  }

  #finished(worker: WorkerView, bullId: string, raw: unknown, failedReason?: string): void {
    if (worker.assigned.delete(bullId)) this.#notify();
    const remote = this.#byBull.get(bullId);
    this.#byBull.delete(bullId);
    if (!remote || remote.ended) return;
    if (failedReason !== undefined) {
      remote.ended = { t: 'failed', during: remote.steps === undefined ? 'begin' : 'step', error: { code: 'RUNNER_FAILED', message: failedReason } };
    } else {
      const o = decodeOutcome(raw);
      if (o.ok) remote.ended = o.value;
      else {
        this.#log('warn', `worker ${worker.beat.name} sent an outcome that breaks the protocol: ${o.problem}`);
        remote.ended = { t: 'crashed', reason: `worker ${worker.beat.name} broke the protocol` };
      }
    }
    this.#wake(remote);
  }

  #died(worker: WorkerView, reason: string): void {
    for (const remote of this.#jobs.values()) {
      if (remote.worker !== worker || remote.ended) continue;
      remote.ended = { t: 'crashed', reason };
      this.#wake(remote);
    }
    this.#notify();
  }

  #endedError(ended: Ended | undefined): HearthError {
    if (ended === undefined || ended.t === 'crashed') {
      const reason = ended?.reason ?? 'the worker went away';
      return new HearthError('WORKER_CRASHED', reason, { reason });
    }
    if (ended.t === 'failed') return HearthError.from(ended.error);
    if (ended.t === 'cancelled') return new HearthError('ABORTED', 'the job was stopped on its worker');
    return new HearthError('RUNNER_FAILED', 'the job ended before it began');
  }

  /** Forgets a job; one still running on its worker is cancelled there. */
  #drop(jobId: string): void {
    const remote = this.#jobs.get(jobId);
    if (!remote) return;
    this.#jobs.delete(jobId);
    if (remote.ended === undefined) {
      remote.ended = { t: 'cancelled' };
      const message = JSON.stringify({ t: 'cancel', bullId: remote.bullId });
      this.#redis?.publish(KEYS.control(remote.worker.beat.instance), message).catch((e: unknown) => {
        this.#log('warn', `could not cancel job ${jobId} on worker ${remote.worker.beat.name}: ${messageOf(e)}`);
      });
    }
    this.#wake(remote);
  }

  #wake(remote: RemoteJob): void {
    for (const w of [...remote.wake]) w();
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Waits until the job's state changes so that `ready()` holds; rejects on abort or shutdown. */
  async #until(remote: RemoteJob, ready: () => boolean, signal: AbortSignal | undefined): Promise<void> {
    while (!ready()) {
      if (this.#closing) throw new HearthError('SHUTTING_DOWN', 'hearth is shutting down');
      signal?.throwIfAborted();
      await new Promise<void>((resolve) => {
        const done = (): void => {
          remote.wake.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        remote.wake.add(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** Waits for a change of the workers or their room (or the timeout); rejects on abort. */
  async #changed(signal: AbortSignal | undefined, timeoutMs?: number): Promise<void> {
    signal?.throwIfAborted();
    await new Promise<void>((resolve) => {
      const timer = timeoutMs !== undefined ? setTimeout(() => done(), Math.max(0, timeoutMs)) : undefined;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        this.#waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.#waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
