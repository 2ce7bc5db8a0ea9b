/**
 * The coordinator's view of the GPU workers: read from their heartbeats in Redis every half beat.
 * A worker whose heartbeat expired (3 beats of silence: kill -9, power off, network gone), or that
 * came back as a new instance under the same name, is dead: its running jobs are lost and its
 * queue, which nobody will serve again, is removed from Redis.
 *
 * For each live worker it holds that worker's BullMQ queue (the coordinator adds jobs to it) and a
 * QueueEvents reader of that queue's event stream (progress, completion), handed to the listener.
 */
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { messageOf, type Json } from '../engine/types.js';
import { BULL_PREFIX, KEYS } from './redis.js';
import { decodeHeartbeat, type Heartbeat, type JobData } from './wire.js';

/** A live worker as the coordinator sees it. */
export interface WorkerView {
  beat: Heartbeat;
  queue: Queue<JobData, Json>;
  events: QueueEvents;
  /** BullMQ job ids placed here and not yet finished: its used capacity, as the coordinator counts it. */
  assigned: Set<string>;
  /** When it was last placed on (spreads ties). */
  lastPlacedAt: number;
}

export interface RegistryListener {
  progress(worker: WorkerView, bullId: string, data: unknown): void;
  finished(worker: WorkerView, bullId: string, outcome: unknown, failedReason?: string): void;
  /** The worker is gone; `reason` says how it was found out. */
  died(worker: WorkerView, reason: string): void;
  /** Workers or their room changed: placements waiting may go now. */
  changed(): void;
}

export interface WorkerRegistryOptions {
  redis: Redis;
  heartbeatMs: number;
  listener: RegistryListener;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export class WorkerRegistry {
  readonly #o: WorkerRegistryOptions;
  /** By instance id. */
  readonly #workers = new Map<string, WorkerView>();
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #closed = false;
  #polls = 0;
  /** Since when Redis has answered every read (reset by a failed read: Redis away, or restarting). */
  #reachableSince = Date.now();
  #unreachable = false;

  constructor(options: WorkerRegistryOptions) {
    this.#o = options;
    // Commands wait out an outage (they are sent again on reconnect), so a read spanning it does not
    // fail: the connection's own events say when Redis went away and came back.
    options.redis.on('close', () => {
      if (!this.#unreachable && !this.#closed) options.log('warn', 'Redis went away; waiting for it (workers are not declared dead meanwhile)');
      this.#unreachable = true;
    });
    options.redis.on('ready', () => {
      if (this.#unreachable) options.log('info', 'Redis answers again');
      this.#unreachable = false;
      this.#reachableSince = Date.now();
    });
  }

  /** Reads the heartbeats once, then every half beat. */
  async start(): Promise<void> {
    await this.poll();
    this.#timer = setInterval(() => void this.poll(), Math.max(50, Math.floor(this.#o.heartbeatMs / 2)));
  }

  /** Completed reads of the heartbeats. */
  get polls(): number {
    return this.#polls;
  }

  workers(): WorkerView[] {
    return [...this.#workers.values()];
  }

  /** One read of the heartbeats (skipped while another runs). */
  poll(): Promise<void> {
    this.#polling ??= this.#poll().finally(() => (this.#polling = undefined));
    return this.#polling;
  }

  async #poll(): Promise<void> {
    if (this.#closed) return;
    const redis = this.#o.redis;
    let beats: Heartbeat[];
    const gone: string[] = [];
    try {
      const names = await redis.smembers(KEYS.workers);
      const values = names.length > 0 ? await redis.mget(names.map((n) => KEYS.worker(n))) : [];
      beats = [];
      names.forEach((name, i) => {
        const raw = values[i];
        if (raw === null || raw === undefined) return void gone.push(name);
        const beat = decodeHeartbeat(raw);
        if (beat.ok && beat.value.name === name) beats.push(beat.value);
        else this.#o.log('warn', `worker ${name} announced itself in a way that breaks the protocol: ${beat.ok ? 'another name' : beat.problem}`);
      });
    } catch (e) {
      // Redis unreachable: no heartbeat was read, so nobody is declared dead for it.
      if (!this.#unreachable) this.#o.log('warn', `could not read the workers' heartbeats: ${messageOf(e)}`);
      return;
    }
    // Back after an outage (a Redis restart), heartbeats may have expired meanwhile though their
    // workers live and beat again within one beat: a missing one counts only after 3 beats of Redis up.
    const settled = !this.#unreachable && Date.now() - this.#reachableSince >= this.#o.heartbeatMs * 3;
    if (this.#closed) return;
    const byName = new Map(beats.map((b) => [b.name, b]));
    let changed = false;
    for (const view of this.#workers.values()) {
      const beat = byName.get(view.beat.name);
      if (!beat && !settled) continue;
      if (!beat) this.#die(view, `worker ${view.beat.name} stopped answering (no heartbeat for ${(this.#o.heartbeatMs * 3) / 1000} s)`);
      else if (beat.instance !== view.beat.instance) this.#die(view, `worker ${view.beat.name} restarted`);
      else {
        changed ||= beat.draining !== view.beat.draining || beat.capacity !== view.beat.capacity;
        view.beat = beat;
        continue;
      }
      changed = true;
    }
    for (const beat of beats) {
      if (this.#workers.has(beat.instance)) continue;
      await this.#add(beat);
      changed = true;
    }
    if (gone.length > 0) await redis.srem(KEYS.workers, ...gone).catch(() => 0);
    this.#polls++;
    if (changed) this.#o.listener.changed();
  }

  async #add(beat: Heartbeat): Promise<void> {
    const redis = this.#o.redis;
    const queue = new Queue<JobData, Json>(beat.queue, { connection: redis, prefix: BULL_PREFIX });
    queue.on('error', (e: Error) => this.#o.log('warn', `queue of worker ${beat.name}: ${e.message}`));
    // From the stream's start: events written before this reader's first read are not missed (the
    // stream of a new instance holds only its own; events of jobs this run did not place are ignored).
    const events = new QueueEvents(beat.queue, { connection: redis, prefix: BULL_PREFIX, lastEventId: '0-0' });
    events.on('error', (e: Error) => this.#o.log('warn', `events of worker ${beat.name}: ${e.message}`));
    const view: WorkerView = { beat, queue, events, assigned: new Set(), lastPlacedAt: 0 };
    const l = this.#o.listener;
    events.on('progress', ({ jobId, data }) => l.progress(view, jobId, data));
    events.on('completed', ({ jobId, returnvalue }) => l.finished(view, jobId, returnvalue));
    events.on('failed', ({ jobId, failedReason }) => l.finished(view, jobId, undefined, failedReason));
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    this.#workers.set(beat.instance, view);
    this.#o.log(
      'info',
      `worker ${beat.name} joined (${beat.host}, pid ${beat.pid}): ${beat.models.map((m) => m.model).join(', ') || 'no models'}, capacity ${beat.capacity}`,
    );
  }

  #die(view: WorkerView, reason: string): void {
    this.#workers.delete(view.beat.instance);
    this.#o.log('warn', reason);
    this.#o.listener.died(view, reason);
    // Nobody serves this queue again (a restarted worker has a new one): its jobs are stale.
    void (async () => {
      await view.events.close().catch(() => {});
      await view.queue.obliterate({ force: true }).catch((e: unknown) => this.#o.log('warn', `could not remove the queue of ${view.beat.name}: ${messageOf(e)}`));
      await view.queue.close().catch(() => {});
    })();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#polling?.catch(() => {});
    for (const view of this.#workers.values()) {
      await view.events.close().catch(() => {});
      await view.queue.close().catch(() => {});
    }
    this.#workers.clear();
  }
}
