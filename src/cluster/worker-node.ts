/**
 * The GPU worker side of a cluster (`hearth worker`): it serves the models of its own config through
 * an {@link Executor} (the supervised GPU process with the built-in runners, or simulated runners in
 * tests), announces them with a heartbeat, and runs the hearth jobs the coordinator places on its own
 * BullMQ queue, each to its end, streaming tokens, progress and previews back as job progress.
 *
 * Its jobs' steps take turns on its GPU one at a time, in FIFO order of readiness (a job queues again
 * after each of its steps), so per-step fairness holds inside the worker as it does in one box.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Executor, ModelDescriptor } from '../engine/executor/executor.js';
import type { JobEvent, Json } from '../engine/types.js';
import type { GpuTelemetry } from '../monitoring/gpu-monitor.js';
import { HearthError, messageOf, toErrorInfo } from '../engine/types.js';
import { BULL_PREFIX, KEYS, closeRedis, connectRedis, firstConnect, queueName, redactRedisUrl, scrubRedisPassword } from './redis.js';
import { decodeControl, decodeJobData, toWire, type Heartbeat, type JobData, type Outcome, type Progress } from './wire.js';

export interface WorkerNodeOptions {
  redisUrl: string;
  /** For `rediss://`: a PEM file of the CA that signed Redis's certificate (`cluster.tlsCaFile`). */
  tlsCaFile?: string;
  /** Shown in the dashboard and logs (`cluster.workerName`, default hostname-pid). */
  name: string;
  /** Jobs run at once (`cluster.capacity`). */
  capacity: number;
  heartbeatMs: number;
  executor: Executor;
  vramBudgetBytes: number;
  /** Its GPU telemetry (src/monitoring's GpuMonitor), sent with every heartbeat for the dashboard. */
  telemetry?: () => GpuTelemetry;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

interface LocalJob {
  bullId: string;
  hearthId: string;
  epoch: string;
  controller: AbortController;
}

/** The default worker name: this host and process. */
export function defaultWorkerName(): string {
  return `${hostname().replace(/[^A-Za-z0-9_.-]/g, '-')}-${process.pid}`.replace(/^[^A-Za-z0-9]+/, '');
}

export class WorkerNode {
  readonly #o: WorkerNodeOptions;
  readonly instance = randomUUID().slice(0, 8);
  readonly queue: string;
  readonly #startedAt = Date.now();
  readonly #active = new Map<string, LocalJob>();
  #models: ModelDescriptor[] = [];
  #redis: Redis | undefined;
  #sub: Redis | undefined;
  #bull: Worker<JobData, Json> | undefined;
  #beat: NodeJS.Timeout | undefined;
  #epoch: string | undefined;
  #draining = false;
  /** The GPU's turn: each step waits for the steps queued before it (FIFO). */
  #turn: Promise<void> = Promise.resolve();
  /** Bumped when the GPU process died: jobs begun before hold no runner state any more. */
  #crashes = 0;
  #closing: Promise<void> | undefined;

  constructor(options: WorkerNodeOptions) {
    const log = options.log;
    // Redis errors may quote what they were given: the URL's password never reaches a log line.
    this.#o = log ? { ...options, log: (level, message) => log(level, scrubRedisPassword(message, options.redisUrl)) } : options;
    this.queue = queueName(options.name, this.instance);
  }

  get name(): string {
    return this.#o.name;
  }

  /** Learns the models, starts taking jobs and announces itself. */
  async start(): Promise<void> {
    const log = this.#o.log;
    // Redis first: an unreachable one is reported at once, before the GPU process starts.
    this.#redis = connectRedis({ url: this.#o.redisUrl, ...(this.#o.tlsCaFile ? { tlsCaFile: this.#o.tlsCaFile } : {}) }, `hearth-worker-${this.#o.name}`);
    await firstConnect(this.#redis, this.#o.redisUrl);
    this.#models = await this.#o.executor.describe();
    this.#o.executor.onCrash((reason) => {
      this.#crashes++;
      log?.('error', `the GPU process died (${reason}); its jobs will run again`);
    });
    this.#redis.on('error', (e: Error) => log?.('warn', `Redis: ${e.message}`));
    this.#sub = this.#redis.duplicate();
    this.#sub.on('error', () => {});
    this.#sub.on('message', (_channel: string, text: string) => this.#onControl(text));
    await this.#sub.subscribe(KEYS.control(this.instance));
    this.#epoch = (await this.#redis.get(KEYS.epoch)) ?? undefined;
    this.#bull = new Worker<JobData, Json>(this.queue, (job, _token, signal) => this.#process(job, signal), {
      connection: this.#redis,
      prefix: BULL_PREFIX,
      concurrency: this.#o.capacity,
      // The coordinator decides retries (its crash policy): a job stalled here is not run again here.
      maxStalledCount: 0,
    });
    this.#bull.on('error', (e: Error) => log?.('warn', `BullMQ: ${e.message}`));
    await this.#bull.waitUntilReady();
    await this.#heartbeat();
    this.#beat = setInterval(() => void this.#heartbeat(), this.#o.heartbeatMs);
    log?.(
      'info',
      `worker ${this.#o.name} serves ${this.#models.map((m) => m.model).join(', ') || 'no models'} through ${redactRedisUrl(this.#o.redisUrl)}`,
    );
  }

  /**
   * Leaves: announces that it is draining (the coordinator places nothing new), finishes the jobs it
   * has, removes its heartbeat and closes the executor. Returns the same promise when called again.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#draining = true;
      // Never started (Redis unreachable): nothing to announce, and commands would wait for Redis.
      if (!this.#bull) {
        if (this.#redis) this.#redis.disconnect();
        await this.#o.executor.close();
        return;
      }
      await this.#heartbeat().catch(() => {});
      await this.#bull?.close().catch(() => {});
      if (this.#beat) clearInterval(this.#beat);
      if (this.#redis) {
        await this.#redis
          .multi()
          .del(KEYS.worker(this.#o.name))
          .srem(KEYS.workers, this.#o.name)
          .exec()
          .catch(() => {});
      }
      for (const r of [this.#sub, this.#redis]) if (r) await closeRedis(r);
      await this.#o.executor.close();
    })();
    return this.#closing;
  }

  async #heartbeat(): Promise<void> {
    const redis = this.#redis;
    if (!redis || redis.status === 'end') return;
    const beat: Heartbeat = {
      name: this.#o.name,
      instance: this.instance,
      queue: this.queue,
      host: hostname(),
      pid: process.pid,
      models: this.#models,
      vramBudgetBytes: this.#o.vramBudgetBytes,
      capacity: this.#o.capacity,
      running: [...this.#active.values()].map((j) => j.hearthId),
      draining: this.#draining,
      startedAt: this.#startedAt,
      beatAt: Date.now(),
    };
    const gpu = this.#o.telemetry?.();
    if (gpu) beat.gpu = gpu;
    try {
      const replies = await redis
        .multi()
        .set(KEYS.worker(this.#o.name), JSON.stringify(beat), 'PX', this.#o.heartbeatMs * 3)
        .sadd(KEYS.workers, this.#o.name)
        .get(KEYS.epoch)
        .exec();
      const epoch = replies?.[2]?.[1];
      if (typeof epoch === 'string') this.#setEpoch(epoch);
    } catch (e) {
      this.#o.log?.('warn', `heartbeat failed: ${messageOf(e)}`);
    }
  }

  /** A newer coordinator run: stop the work the older one placed (it has requeued those jobs itself). */
  #setEpoch(epoch: string): void {
    if (epoch === this.#epoch) return;
    this.#epoch = epoch;
    for (const j of this.#active.values()) {
      if (j.epoch !== epoch) j.controller.abort(new HearthError('ABORTED', 'placed by an earlier coordinator run'));
    }
  }

  #onControl(text: string): void {
    const m = decodeControl(text);
    if (!m.ok) {
      this.#o.log?.('warn', `a control message that breaks the protocol was ignored: ${m.problem}`);
      return;
    }
    if (m.value.t === 'epoch') this.#setEpoch(m.value.epoch);
    else this.#active.get(m.value.bullId)?.controller.abort(new HearthError('ABORTED', 'cancelled by the coordinator'));
  }

  /** Runs one hearth job to its end; the outcome is the BullMQ job's return value. */
  async #process(job: Job<JobData, Json>, bullSignal?: AbortSignal): Promise<Json> {
    const data = decodeJobData(job.data);
    if (!data.ok) {
      const refused: Outcome = { t: 'failed', during: 'begin', error: { code: 'INVALID_INPUT', message: `the job breaks the protocol: ${data.problem}` } };
      return toWire(refused);
    }
    const bullId = job.id ?? '';
    const { epoch, job: runnerJob } = data.value;
    const local: LocalJob = { bullId, hearthId: runnerJob.id, epoch, controller: new AbortController() };
    this.#active.set(bullId, local);
    if (this.#epoch !== undefined && epoch !== this.#epoch) local.controller.abort();
    const signal = bullSignal ? AbortSignal.any([bullSignal, local.controller.signal]) : local.controller.signal;
    // Progress goes out in order, and all of it before the outcome.
    let chain: Promise<void> = Promise.resolve();
    const send = (p: Progress): void => {
      chain = chain.then(() => job.updateProgress(toWire(p) as object)).catch((e: unknown) => {
        this.#o.log?.('warn', `could not report progress of ${runnerJob.id}: ${messageOf(e)}`);
      });
    };
    try {
      const outcome = await this.#run(runnerJob, signal, send);
      await chain;
      // As JSON, bytes (a PNG) in base64: BullMQ stores the return value with JSON.stringify.
      return toWire(outcome);
    } finally {
      this.#active.delete(bullId);
    }
  }

  async #run(job: JobData['job'], signal: AbortSignal, send: (p: Progress) => void): Promise<Outcome> {
    const ex = this.#o.executor;
    const crashes = this.#crashes;
    const crashed = (): Outcome => ({
      t: 'failed',
      during: 'step',
      error: { code: 'WORKER_CRASHED', message: `the GPU process of worker ${this.#o.name} died`, facts: { reason: 'GPU process restarted' } },
    });
    let begun = false;
    try {
      if (signal.aborted) return { t: 'cancelled' };
      try {
        await this.#onGpu(() => ex.load(job.model, { signal }));
        const { steps } = await this.#onGpu(() => ex.begin(job, { signal }));
        begun = true;
        send({ t: 'begun', steps });
      } catch (e) {
        if (signal.aborted) return { t: 'cancelled' };
        if (e instanceof HearthError && e.code === 'WORKER_CRASHED') return crashed();
        return { t: 'failed', during: 'begin', error: toErrorInfo(e) };
      }
      const emit = (jobId: string, event: JobEvent): void => {
        if (jobId === job.id) send({ t: 'event', event });
      };
      for (;;) {
        if (signal.aborted) return { t: 'cancelled' };
        const outputs = await this.#onGpu(() => ex.step(job.model, [job.id], { signal, emit }));
        if (this.#crashes !== crashes) return crashed();
        const out = outputs.find((o) => o.jobId === job.id);
        if (out?.done) return { t: 'done', result: out.done };
        if (out?.failed) return { t: 'failed', during: 'step', error: out.failed };
        if (signal.aborted) return { t: 'cancelled' };
        send({ t: 'stepped', share: out?.share ?? 1 });
      }
    } catch (e) {
      if (signal.aborted) return { t: 'cancelled' };
      if ((e instanceof HearthError && e.code === 'WORKER_CRASHED') || this.#crashes !== crashes) return crashed();
      return { t: 'failed', during: 'step', error: toErrorInfo(e) };
    } finally {
      if (begun) await ex.end(job.model, job.id).catch(() => {});
    }
  }

  /** Runs GPU work in its turn: one step at a time on this worker, first come first served. */
  async #onGpu<T>(work: () => Promise<T>): Promise<T> {
    const before = this.#turn;
    let release!: () => void;
    this.#turn = new Promise<void>((resolve) => (release = resolve));
    await before;
    try {
      return await work();
    } finally {
      release();
    }
  }
}
