export interface ThrottledEditorOptions<P> {
  /** Least time between the end of one delivery and the start of the next, ms. */
  intervalMs: number;
  /** Sends one payload (creates or edits the message). */
  deliver: (payload: P) => Promise<void>;
  onError: (error: unknown) => void;
  now?: () => number;
}

/**
 * The one throttling rule for edits on every face. One message's edits, at most one per interval: the newest payload wins, the ones in between are
 * skipped, one delivery is in flight at a time, and the next starts at least `intervalMs` after the
 * previous one ended (measured from the end, so a request that waited in a queue cannot be followed
 * too closely by the next one). The first delivery goes at once.
 */
export class ThrottledEditor<P> {
  readonly #opts: ThrottledEditorOptions<P>;
  readonly #now: () => number;
  #pending: { payload: P } | undefined;
  #sending = false;
  #lastDone = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #idleWaiters: Array<() => void> = [];
  #disposed = false;
  #deliveries = 0;
  #urgent = false;

  constructor(opts: ThrottledEditorOptions<P>) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** Deliveries made so far. */
  get deliveries(): number {
    return this.#deliveries;
  }

  /**
   * Replaces what the message should show; delivered when the interval allows. A `final` payload (the
   * job's end) goes as soon as the delivery in flight is done: people should not wait for the end.
   */
  set(payload: P, opts: { final?: boolean } = {}): void {
    if (this.#disposed) return;
    this.#pending = { payload };
    if (opts.final) {
      this.#urgent = true;
      if (this.#timer) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
    }
    this.#schedule();
  }

  /** Drops a payload that has not been sent yet (an in-flight delivery still completes). */
  dropPending(): void {
    this.#pending = undefined;
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#settle();
  }

  /** Resolves once everything set so far has been delivered (or dropped). */
  idle(): Promise<void> {
    if (!this.#sending && !this.#pending) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops: pending payloads are dropped, waiters released. Safe to call twice. */
  dispose(): void {
    this.#disposed = true;
    this.dropPending();
    for (const w of this.#idleWaiters.splice(0)) w();
  }

  #schedule(): void {
    if (this.#timer || this.#sending || !this.#pending || this.#disposed) return;
    const wait = this.#urgent ? 0 : Math.max(0, this.#lastDone + this.#opts.intervalMs - this.#now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#send();
    }, wait);
  }

  async #send(): Promise<void> {
    const next = this.#pending;
    if (!next || this.#disposed) return;
    this.#pending = undefined;
    this.#urgent = false;
    this.#sending = true;
    try {
      await this.#opts.deliver(next.payload);
      this.#deliveries++;
    } catch (e) {
      this.#opts.onError(e);
    } finally {
      this.#sending = false;
      this.#lastDone = this.#now();
      this.#schedule();
      this.#settle();
    }
  }

  #settle(): void {
    if (this.#sending || this.#pending) return;
    for (const w of this.#idleWaiters.splice(0)) w();
  }
}
