import type { Readiness } from './job-feed.js';
import type { EngineEvent, JobEvent } from './types.js';

/**
 * Fans job events out to listeners. A listener that throws does not stop the others: its error goes
 * to `onListenerError` (nothing is swallowed).
 */
export class EventHub {
  readonly #listeners = new Set<(e: EngineEvent) => void>();
  readonly #onListenerError: (error: unknown, event: EngineEvent) => void;

  constructor(onListenerError: (error: unknown, event: EngineEvent) => void) {
    this.#onListenerError = onListenerError;
  }

  on(listener: (e: EngineEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  publish(jobId: string, userId: string, event: JobEvent): void {
    const e: EngineEvent = { jobId, userId, event };
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch (error) {
        this.#onListenerError(error, e);
      }
    }
  }

  /** One job's events until it ends (result, failed or cancelled), or until the signal aborts. */
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
}

/** Where hearth stands (starting → ready → stopping), with listeners told of each change. */
export class ReadinessSignal {
  #state: Readiness = 'starting';
  readonly #listeners = new Set<(r: Readiness) => void>();
  readonly #onListenerError: (error: unknown) => void;

  constructor(onListenerError: (error: unknown) => void) {
    this.#onListenerError = onListenerError;
  }

  get state(): Readiness {
    return this.#state;
  }

  on(listener: (r: Readiness) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  set(state: Readiness): void {
    // Stopping is final: a start that finishes after close() began does not make hearth ready again.
    if (this.#state === state || this.#state === 'stopping') return;
    this.#state = state;
    for (const l of this.#listeners) {
      try {
        l(state);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }
}
