/**
 * The lifecycle every runner shares: load, unload and dispose follow the same rules whatever the
 * model library, so the engine can rely on them (see the runner contract suite in
 * test/integration/runner-contract.test.ts).
 *
 * The rules, as the three runners apply them:
 * - A load in flight is shared: concurrent `load` calls load the model once.
 * - Each resource a load acquires registers its teardown step right away (`LoadContext.defer`), so
 *   a load that fails half way frees what it got, and `unload`/`dispose` run every step (newest
 *   first) even when one throws; the failures come back together as one AggregateError.
 * - `unload` waits for a load in flight, then frees it.
 * - Runner-level states reject the whole call: after `dispose`, every call but `dispose` rejects
 *   with HearthError SHUTTING_DOWN naming the runner; `begin`/`step` with no model loaded reject
 *   with HearthError RUNNER_FAILED, facts `{ model, kind, loaded: false }`, plus `loadError` (code
 *   and message) when the last load failed, so a job on a broken model hears why.
 * - Job-level problems come back in the job's step output: an id that was never begun (or has
 *   ended) is NOT_FOUND. `end` of an unknown id does nothing.
 *
 * Cancelling a load: `load({ signal })` rejects that caller as soon as its signal aborts (with the
 * signal's reason). The shared load goes on while any other caller still waits for it (a caller
 * without a signal always counts); when the last one has aborted, the load itself is aborted and
 * whatever it had acquired is torn down. `dispose` aborts a load in flight.
 *
 * The idea follows node-llama-cpp's DisposeGuard and LlamaModel's dispose aggregator; the code is ours.
 */
import type { StepOutput } from '../engine/runner.js';
import { type ErrorInfo, type FactsOf, HearthError, type JobKind, toErrorInfo } from '../engine/types.js';

/** One teardown step: frees one resource. May be sync or async. */
export type Teardown = () => void | Promise<void>;

/** A teardown step that threw, with the label it was registered under. */
export interface TeardownFailure {
  label: string;
  error: unknown;
}

/**
 * Teardown steps in the order resources were acquired; `run` frees them newest first (a context
 * before the model it came from) and runs every step even when one throws.
 */
export class TeardownStack {
  #steps: Array<{ label: string; teardown: Teardown }> = [];

  /** Registers a step; call it right after the resource exists, before anything else can fail. */
  add(label: string, teardown: Teardown): void {
    this.#steps.push({ label, teardown });
  }

  get size(): number {
    return this.#steps.length;
  }

  /** Runs and forgets every step, newest first. Never throws: the failures are returned. */
  async run(): Promise<TeardownFailure[]> {
    const failures: TeardownFailure[] = [];
    for (let step = this.#steps.pop(); step; step = this.#steps.pop()) {
      try {
        await step.teardown();
      } catch (error) {
        failures.push({ label: step.label, error });
      }
    }
    return failures;
  }
}

/** What a loader gets from the lifecycle. */
export interface LoadContext {
  /**
   * Aborted when every caller waiting for this load has aborted, or the runner is disposed. Pass it
   * to the model library where it takes one; the lifecycle also checks it when the loader returns.
   */
  readonly signal: AbortSignal;
  /** Registers the teardown of a resource just acquired (see {@link TeardownStack.add}). */
  defer(label: string, teardown: Teardown): void;
}

/** How a runner builds its lifecycle. */
export interface RunnerLifecycleOptions<T> {
  kind: JobKind;
  /** The model id the runner serves (named in errors). */
  model: string;
  /** Loads the model; registers a teardown for each resource as soon as it has it. */
  load: (ctx: LoadContext) => Promise<T>;
  /**
   * False when a loaded model can no longer serve (the image runner's worker thread stopped): the
   * next `use` or `load` tears it down and loads it again. Default: always healthy.
   */
  healthy?: (loaded: T) => boolean;
  /** Where teardown failures of a load that failed anyway go (callers see the load's own error). */
  warn?: (message: string) => void;
}

type State<T> =
  | { kind: 'unloaded' }
  | { kind: 'loading'; flight: Flight<T> }
  | { kind: 'loaded'; value: T; teardown: TeardownStack }
  | { kind: 'unloading'; done: Promise<void> }
  | { kind: 'disposed' };

interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  /** Callers with a signal still waiting. */
  waiting: number;
  /** A caller without a signal waits: the load is never aborted on callers' behalf. */
  pinned: boolean;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('aborted');
}

/**
 * The shared load/unload/dispose state machine of one runner. `T` is what a load yields (the
 * model, its sessions or context). The runner keeps its model-specific logic and job table; this
 * holds the model and decides what each call may do in each state.
 */
export class RunnerLifecycle<T> {
  readonly kind: JobKind;
  readonly model: string;
  readonly #options: RunnerLifecycleOptions<T>;
  #state: State<T> = { kind: 'unloaded' };
  readonly #onDispose = new TeardownStack();
  #disposing: Promise<void> | undefined;
  /** Why the last load failed, until a load succeeds or `unload` is called. */
  #lastLoadError: ErrorInfo | undefined;

  constructor(options: RunnerLifecycleOptions<T>) {
    this.#options = options;
    this.kind = options.kind;
    this.model = options.model;
  }

  /** True from the moment `dispose` is called. */
  get disposed(): boolean {
    return this.#state.kind === 'disposed';
  }

  /** True while a model is loaded (healthy or not), false while loading, unloading or unloaded. */
  get loaded(): boolean {
    return this.#state.kind === 'loaded';
  }

  /** The loaded model, if any, without waiting (for getters such as the active device). */
  peek(): T | undefined {
    return this.#state.kind === 'loaded' ? this.#state.value : undefined;
  }

  /** The error every call gets after `dispose`. */
  shuttingDown(): HearthError {
    return new HearthError('SHUTTING_DOWN', `the ${this.kind} runner "${this.model}" has been disposed (hearth is shutting down)`, {
      model: this.model,
      kind: this.kind,
    });
  }

  /** The error `begin`/`step` get with no model loaded. */
  notLoaded(): HearthError {
    const last = this.#lastLoadError;
    const facts: FactsOf<'RUNNER_FAILED'> = { model: this.model, kind: this.kind, loaded: false };
    if (last) facts.loadError = { code: last.code, message: last.message };
    const why = last ? `: its last load failed: ${last.message}` : '';
    return new HearthError('RUNNER_FAILED', `the ${this.kind} model "${this.model}" is not loaded${why}`, facts);
  }

  /** The step output of a job id this runner does not hold (never begun, or ended). */
  jobNotFound(jobId: string): StepOutput {
    return {
      jobId,
      failed: {
        code: 'NOT_FOUND',
        message: `no ${this.kind} job ${jobId} on runner "${this.model}" (never begun, or already ended)`,
        facts: { jobId, model: this.model },
      },
    };
  }

  /** Throws SHUTTING_DOWN once disposed; the first line of every runner call. */
  assertOpen(): void {
    if (this.#state.kind === 'disposed') throw this.shuttingDown();
  }

  /** The loaded model, now: throws SHUTTING_DOWN after dispose, the not-loaded error otherwise. */
  require(): T {
    this.assertOpen();
    if (this.#state.kind !== 'loaded') throw this.notLoaded();
    return this.#state.value;
  }

  /**
   * The loaded model for a job call (`begin`, `step`). Waits for a load in flight; loads again a
   * model that is no longer healthy; rejects with the not-loaded error when nothing is loaded or
   * loading (an unload asked for is honoured: jobs do not bring the model back by themselves).
   */
  async use(signal?: AbortSignal): Promise<T> {
    this.assertOpen();
    const s = this.#state;
    if (s.kind === 'loaded' && this.#healthy(s.value)) return s.value;
    if (s.kind === 'loaded' || s.kind === 'loading') return this.load(signal ? { signal } : {});
    throw this.notLoaded();
  }

  /** Loads the model, or joins the load in flight. See the module comment on `signal`. */
  async load(opts: { signal?: AbortSignal } = {}): Promise<T> {
    const { signal } = opts;
    for (;;) {
      this.assertOpen();
      if (signal?.aborted) throw abortReason(signal);
      const s = this.#state;
      switch (s.kind) {
        case 'loaded':
          if (this.#healthy(s.value)) return s.value;
          await this.#teardownLoaded(s).catch((e: unknown) => this.#warn(`freeing the stopped model failed: ${describe(e)}`));
          continue;
        case 'unloading':
          await this.#wait(s.done, signal);
          continue;
        case 'unloaded': {
          const flight = this.#startLoad();
          this.#state = { kind: 'loading', flight };
          return this.#join(flight, signal);
        }
        case 'loading':
          return this.#join(s.flight, signal);
        case 'disposed':
          throw this.shuttingDown();
      }
    }
  }

  /**
   * Frees the loaded model, running every registered teardown step. Waits for a load in flight
   * first. Rejects with an AggregateError naming each step that failed (the model counts as
   * unloaded anyway).
   */
  async unload(): Promise<void> {
    for (;;) {
      this.assertOpen();
      const s = this.#state;
      switch (s.kind) {
        case 'unloaded':
          this.#lastLoadError = undefined;
          return;
        case 'loading':
          await s.flight.promise.catch(() => undefined);
          continue;
        case 'unloading':
          return s.done;
        case 'loaded':
          return this.#teardownLoaded(s);
        case 'disposed':
          throw this.shuttingDown();
      }
    }
  }

  /**
   * Registers a teardown for the runner's own lifetime (not one load's), such as a llama.cpp
   * instance the runner created. It runs at `dispose`, after the model's own teardown.
   */
  onDispose(label: string, teardown: Teardown): void {
    this.assertOpen();
    this.#onDispose.add(label, teardown);
  }

  /**
   * Aborts a load in flight, frees the model and runs the `onDispose` steps. From the first call on,
   * every other call rejects SHUTTING_DOWN. Safe to call again: later calls wait for the first and
   * resolve (its teardown failures, if any, are reported once, by the first call).
   */
  dispose(): Promise<void> {
    if (this.#disposing) return this.#disposing.catch(() => undefined);
    this.#disposing = this.#dispose();
    return this.#disposing;
  }

  /** Same as `dispose()`, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  async #dispose(): Promise<void> {
    const s = this.#state;
    this.#state = { kind: 'disposed' };
    const failures: TeardownFailure[] = [];
    if (s.kind === 'loading') {
      // The load's own teardown runs when it notices the abort; its callers get SHUTTING_DOWN.
      s.flight.controller.abort(this.shuttingDown());
      await s.flight.promise.catch(() => undefined);
    } else if (s.kind === 'unloading') {
      await s.done.catch((error: unknown) => failures.push({ label: 'unload', error }));
    } else if (s.kind === 'loaded') {
      failures.push(...(await s.teardown.run()));
    }
    failures.push(...(await this.#onDispose.run()));
    if (failures.length > 0) throw this.#aggregate('disposing', failures);
  }

  #startLoad(): Flight<T> {
    const controller = new AbortController();
    const teardown = new TeardownStack();
    // `promise` is set just below; the placeholder is never awaited.
    const flight: Flight<T> = { promise: new Promise<never>(() => undefined), controller, waiting: 0, pinned: false };
    const isCurrent = (): boolean => this.#state.kind === 'loading' && this.#state.flight === flight;
    flight.promise = (async () => {
      try {
        const value = await this.#options.load({ signal: controller.signal, defer: (label, fn) => teardown.add(label, fn) });
        // A loader that ignores its signal still loses: what it got is torn down below.
        if (controller.signal.aborted) throw abortReason(controller.signal);
        if (!isCurrent()) throw this.shuttingDown();
        this.#state = { kind: 'loaded', value, teardown };
        this.#lastLoadError = undefined;
        return value;
      } catch (error) {
        const failures = await teardown.run();
        for (const f of failures) this.#warn(`freeing ${f.label} after a failed load failed too: ${describe(f.error)}`);
        if (isCurrent()) this.#state = { kind: 'unloaded' };
        if (controller.signal.aborted) throw abortReason(controller.signal);
        this.#lastLoadError = toErrorInfo(error);
        throw error;
      }
    })();
    // Nobody may be left waiting (all callers aborted): never an unhandled rejection.
    flight.promise.catch(() => undefined);
    return flight;
  }

  /** One caller's view of the shared load: rejects at once when its own signal aborts. */
  #join(flight: Flight<T>, signal: AbortSignal | undefined): Promise<T> {
    if (!signal) {
      flight.pinned = true;
      return flight.promise;
    }
    flight.waiting++;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        flight.waiting--;
        if (flight.waiting === 0 && !flight.pinned) flight.controller.abort(abortReason(signal));
        reject(abortReason(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  #teardownLoaded(s: Extract<State<T>, { kind: 'loaded' }>): Promise<void> {
    const unloading: Extract<State<T>, { kind: 'unloading' }> = { kind: 'unloading', done: Promise.resolve() };
    this.#state = unloading;
    unloading.done = (async () => {
      const failures = await s.teardown.run();
      // Disposed meanwhile: stay disposed.
      if (this.#state === unloading) this.#state = { kind: 'unloaded' };
      if (failures.length > 0) throw this.#aggregate('unloading', failures);
    })();
    return unloading.done;
  }

  /** Waits for `p` (its outcome ignored) unless `signal` aborts first. */
  async #wait(p: Promise<unknown>, signal: AbortSignal | undefined): Promise<void> {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    if (!signal) return settled;
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(abortReason(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      void settled.then(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  #healthy(value: T): boolean {
    return this.#options.healthy?.(value) ?? true;
  }

  #warn(message: string): void {
    this.#options.warn?.(`${this.kind} runner "${this.model}": ${message}`);
  }

  #aggregate(what: string, failures: TeardownFailure[]): AggregateError {
    const list = failures.map((f) => `${f.label}: ${describe(f.error)}`).join('; ');
    return new AggregateError(
      failures.map((f) => f.error),
      `${what} the ${this.kind} runner "${this.model}" failed in ${failures.length} step(s): ${list}`,
    );
  }
}
