/**
 * Acknowledgements first. Discord drops an interaction that is not acknowledged within 3 seconds, while
 * an edit of a streaming reply can wait a little; so while acknowledgements are on their way, edits
 * hold back (at most `maxHoldMs`, so a steady stream of commands cannot starve them).
 */
export class AckGate {
  readonly #maxHoldMs: number;
  #inflight = 0;
  #waiters: Array<() => void> = [];

  constructor(maxHoldMs = 1000) {
    this.#maxHoldMs = maxHoldMs;
  }

  /** Runs an acknowledgement; edits wait while any is in flight. */
  async ack<T>(send: () => Promise<T>): Promise<T> {
    this.#inflight++;
    try {
      return await send();
    } finally {
      this.#inflight--;
      if (this.#inflight === 0) for (const w of this.#waiters.splice(0)) w();
    }
  }

  /** Resolves when no acknowledgement is in flight, or after `maxHoldMs`. */
  quiet(): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.#maxHoldMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#waiters.push(done);
    });
  }
}
