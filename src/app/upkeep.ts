import type { Clock } from '../engine/clock.js';
import type { CompactReport, PruneReport, RetentionStore } from '../engine/store/sqlite-retention.js';

export interface UpkeepOptions {
  store: RetentionStore;
  /** `retention.days`: finished jobs older than this are pruned. */
  days: number;
  clock: Clock;
  /** Resolves when no job is queued or running: compaction blocks, so it waits for a quiet moment. */
  whenIdle: () => Promise<void>;
  log: { info(msg: string): void };
  onError: (e: unknown) => void;
  /** Between two runs; default one day. */
  intervalMs?: number;
}

export interface UpkeepReport {
  pruned: PruneReport;
  /** Undefined when upkeep was stopped before a quiet moment came. */
  compacted: CompactReport | undefined;
}

const DAY_MS = 86_400_000;

/**
 * hearth's upkeep, at start and then daily: finished jobs' results and images older than
 * `retention.days` are pruned (the GPU-seconds totals are kept), and once nothing is running the
 * database gives the freed space back, so the file stays the same size under steady traffic.
 */
export class Upkeep {
  readonly #o: UpkeepOptions;
  readonly #stop = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<UpkeepReport | undefined> | undefined;

  constructor(options: UpkeepOptions) {
    if (!(options.days > 0)) throw new RangeError(`retention days must be > 0; got ${options.days}`);
    this.#o = options;
  }

  /** Runs now, then every interval, until disposed. Errors go to `onError`. */
  start(): void {
    if (this.#timer || this.#stop.signal.aborted) return;
    const tick = (): void => {
      void this.run().catch((e: unknown) => this.#o.onError(e));
    };
    tick();
    this.#timer = setInterval(tick, this.#o.intervalMs ?? DAY_MS);
    this.#timer.unref();
  }

  /** One run (a run under way is shared): prune now, compact at the next quiet moment. */
  run(): Promise<UpkeepReport | undefined> {
    this.#running ??= this.#run().finally(() => (this.#running = undefined));
    return this.#running;
  }

  dispose(): void {
    this.#stop.abort();
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #run(): Promise<UpkeepReport | undefined> {
    const signal = this.#stop.signal;
    if (signal.aborted) return undefined;
    const before = this.#o.clock.now() - this.#o.days * DAY_MS;
    const pruned = this.#o.store.prune(before);
    if (pruned.jobs > 0 || pruned.usageRows > 0) {
      this.#o.log.info(`upkeep: pruned ${pruned.jobs} job(s) that ended over ${this.#o.days} days ago; folded ${pruned.usageRows} usage row(s) into daily totals`);
    }
    const quiet = await new Promise<boolean>((resolve) => {
      const onAbort = (): void => resolve(false);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#o.whenIdle().then(
        () => {
          signal.removeEventListener('abort', onAbort);
          resolve(!signal.aborted);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          this.#o.onError(e);
          resolve(false);
        },
      );
    });
    if (!quiet) return { pruned, compacted: undefined };
    const compacted = this.#o.store.compact();
    if (compacted.mode !== 'none') this.#o.log.info(`upkeep: the database gave back ${compacted.freedPages} free page(s) (${compacted.mode})`);
    return { pruned, compacted };
  }
}
