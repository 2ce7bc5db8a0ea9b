interface Entry {
  failures: number;
  /** Until when this address may not try again (ms since the epoch). */
  until: number;
  last: number;
}

export interface BackoffOptions {
  /** The wait after the first failure; it doubles with each further one. */
  baseMs?: number;
  maxMs?: number;
  /** Failures this long ago are forgotten. */
  forgetMs?: number;
  /** Addresses remembered at most (the oldest are forgotten first). */
  maxEntries?: number;
  now?: () => number;
}

/**
 * Slows down token guessing, per client address: after a wrong token the address must wait before it
 * may try again (500 ms, doubling per failure up to a minute), and a right token clears its record.
 * About 5,800 guesses a second become about one a minute.
 */
export class FailureBackoff {
  readonly #entries = new Map<string, Entry>();
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #forgetMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(opts: BackoffOptions = {}) {
    this.#baseMs = opts.baseMs ?? 500;
    this.#maxMs = opts.maxMs ?? 60_000;
    this.#forgetMs = opts.forgetMs ?? 15 * 60_000;
    this.#maxEntries = opts.maxEntries ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  /** Milliseconds this address must still wait before a token of it is looked at; 0 when it may try now. */
  waitMs(address: string): number {
    const e = this.#fresh(address);
    return e ? Math.max(0, e.until - this.#now()) : 0;
  }

  /** A wrong token from this address: returns how long it must now wait. */
  failed(address: string): number {
    const now = this.#now();
    const e = this.#fresh(address) ?? { failures: 0, until: 0, last: now };
    e.failures++;
    e.last = now;
    const wait = Math.min(this.#maxMs, this.#baseMs * 2 ** Math.min(30, e.failures - 1));
    e.until = now + wait;
    this.#entries.delete(address);
    this.#entries.set(address, e);
    if (this.#entries.size > this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    return wait;
  }

  succeeded(address: string): void {
    this.#entries.delete(address);
  }

  #fresh(address: string): Entry | undefined {
    const e = this.#entries.get(address);
    if (e && this.#now() - e.last > this.#forgetMs && this.#now() >= e.until) {
      this.#entries.delete(address);
      return undefined;
    }
    return e;
  }
}
