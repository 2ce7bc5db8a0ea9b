/**
 * The parent side of child-process execution: forks the GPU worker (src/worker/main.ts), speaks the
 * protocol of ./protocol.ts with it, and supervises it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ExecStepOptions, Executor, ModelDescriptor } from '../engine/executor/executor.js';
import { CounterTotals } from '../engine/executor/counter-totals.js';
import type { RunnerCounters, RunnerJob, StepOutput } from '../engine/runner.js';
import { type FactsOf, HearthError, type Json } from '../engine/types.js';
import {
  decodeFromWorker,
  decodeResponseValue,
  show,
  type FromWorker,
  type ProtocolViolation,
  type Request,
  type ResponseValues,
  type ToWorker,
} from './protocol.js';

export interface ChildProcessExecutorOptions {
  /** Modules whose default export is a RunnerFactory, imported inside the worker. */
  runnerModules: string[];
  /** Passed to every factory. */
  settings: Json;
  /** Extra environment for the worker. */
  env?: NodeJS.ProcessEnv;
  /** Called with the worker's own log lines and the supervisor's notes. */
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /**
   * The script to fork instead of hearth's worker entry (a path or file URL; `.ts` runs through
   * tsx). Tests fork a worker that breaks the protocol on purpose.
   */
  entry?: string | URL;
}

interface Pending {
  /** Checks a successful response's value against the call's op and resolves; the violation if it is not. */
  answer: (value: unknown) => ProtocolViolation | undefined;
  reject: (e: unknown) => void;
  onEvent?: ExecStepOptions['emit'];
}

/**
 * How to fork a worker script: hearth's own entry (./main) next to this module by default, so it holds
 * in both layouts: `.ts` from src/ under tsx and vitest (run through tsx's loader, found from here so
 * the worker starts whatever the current directory), `.js` from dist/ once built.
 */
export function workerEntry(script?: string | URL): { path: string; execArgv: string[] } {
  const here = import.meta.url;
  const url = script ?? new URL(`./main.${here.endsWith('.ts') ? 'ts' : 'js'}`, here);
  const path = typeof url === 'string' && !url.startsWith('file:') ? url : fileURLToPath(url);
  if (!path.endsWith('.ts')) return { path, execArgv: [] };
  const tsxLoader = join(dirname(createRequire(here).resolve('tsx/package.json')), 'dist', 'loader.mjs');
  return { path, execArgv: ['--import', pathToFileURL(tsxLoader).href] };
}

/**
 * Runs the runners in a child process and supervises it: when the worker dies (native abort, OOM
 * kill), every pending call rejects with `WORKER_CRASHED`, crash listeners are told, and the next call
 * starts a fresh worker. The main process's event loop never waits on model code.
 *
 * Every message from the worker is checked against the protocol. One that breaks it (not an object,
 * an unknown type, a field of the wrong type, an answer that does not fit the call's op) is a worker
 * fault, handled exactly as a crash: it is logged with what was expected and what came, the worker is
 * killed (SIGKILL), pending calls reject with `WORKER_CRASHED` (facts `{ cause: 'protocol' }`), crash
 * listeners are told, and the next call starts a fresh worker. The crash path was chosen over a
 * separate error code because the engine's crash policy (retry once, blame the running step) is what
 * a worker in an unknown state needs; nothing it says after the fault is read.
 */
export class ChildProcessExecutor implements Executor {
  readonly #options: ChildProcessExecutorOptions;
  #child: ChildProcess | undefined;
  #ready: Promise<ChildProcess> | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  readonly #crashListeners = new Set<(reason: string) => void>();
  #closing: Promise<void> | undefined;
  #starts = 0;
  readonly #counters = new CounterTotals();

  constructor(options: ChildProcessExecutorOptions) {
    this.#options = options;
  }

  /** How many worker processes were started (1 + restarts). */
  get starts(): number {
    return this.#starts;
  }

  /** The worker's pid, when one runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  describe(opts: { signal?: AbortSignal } = {}): Promise<ModelDescriptor[]> {
    return this.#call({ op: 'describe' }, opts.signal);
  }

  async load(model: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#call({ op: 'load', model }, opts.signal);
  }

  async unload(model: string): Promise<void> {
    await this.#call({ op: 'unload', model });
  }

  begin(job: RunnerJob, opts: { signal?: AbortSignal } = {}): Promise<{ steps: number }> {
    return this.#call({ op: 'begin', job }, opts.signal);
  }

  step(model: string, jobIds: string[], opts: ExecStepOptions): Promise<StepOutput[]> {
    return this.#call({ op: 'step', model, jobIds }, opts.signal, opts.emit);
  }

  async end(model: string, jobId: string): Promise<void> {
    await this.#call({ op: 'end', model, jobId });
  }

  /** The runners' counters by model, totals across worker restarts. */
  counters(): Record<string, RunnerCounters> {
    return this.#counters.snapshot();
  }

  onCrash(listener: (reason: string) => void): () => void {
    this.#crashListeners.add(listener);
    return () => this.#crashListeners.delete(listener);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const child = this.#child;
      this.#child = undefined;
      this.#ready = undefined;
      this.#failPending('the GPU worker is shutting down', 'SHUTTING_DOWN');
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    })();
    return this.#closing;
  }

  async #call<R extends Request>(request: R, signal?: AbortSignal, onEvent?: ExecStepOptions['emit']): Promise<ResponseValues[R['op']]> {
    if (this.#closing) throw new HearthError('SHUTTING_DOWN', 'hearth is shutting down');
    signal?.throwIfAborted();
    const child = await this.#ensure();
    const id = this.#nextId++;
    return new Promise<ResponseValues[R['op']]>((resolve, reject) => {
      const onAbort = (): void => {
        this.#send(child, { type: 'request', id: this.#nextId++, request: { op: 'abort', target: id } });
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => signal?.removeEventListener('abort', onAbort);
      const pending: Pending = {
        answer: (value) => {
          const checked = decodeResponseValue<R['op']>(request.op, value);
          if (!checked.ok) return checked.violation;
          done();
          resolve(checked.message);
          return undefined;
        },
        reject: (e) => {
          done();
          reject(e);
        },
      };
      if (onEvent) pending.onEvent = onEvent;
      this.#pending.set(id, pending);
      this.#send(child, { type: 'request', id, request });
    });
  }

  #send(child: ChildProcess, message: ToWorker): void {
    if (!child.connected) return;
    child.send(message, (e) => {
      if (e) this.#options.log?.('warn', `could not send to the GPU worker: ${e.message}`);
    });
  }

  #ensure(): Promise<ChildProcess> {
    this.#ready ??= this.#spawn().catch((e: unknown) => {
      this.#ready = undefined;
      throw e;
    });
    return this.#ready;
  }

  #spawn(): Promise<ChildProcess> {
    const { path, execArgv } = workerEntry(this.#options.entry);
    this.#starts++;
    this.#counters.restarted();
    const child = fork(path, [], {
      execArgv,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, ...this.#options.env },
    });
    this.#child = child;
    return new Promise<ChildProcess>((resolve, reject) => {
      let ready = false;
      // Set when the worker broke the protocol: it is being killed, and nothing it says counts.
      let fault: string | undefined;
      const violated = (v: ProtocolViolation): void => {
        fault = `the GPU worker broke the protocol: expected ${v.expected}; got ${v.received}`;
        this.#options.log?.('error', fault);
        child.kill('SIGKILL');
      };
      child.on('message', (raw: unknown) => {
        if (fault !== undefined) return;
        const decoded = decodeFromWorker(raw);
        if (!decoded.ok) return violated(decoded.violation);
        const m = decoded.message;
        if (m.type === 'ready' || m.type === 'init-failed') {
          if (ready) return violated({ expected: 'no second ready or init-failed once started', received: show(raw) });
          if (m.type === 'ready') {
            ready = true;
            resolve(child);
          } else {
            reject(HearthError.from(m.error));
            child.kill('SIGKILL');
          }
          return;
        }
        const violation = this.#onMessage(m);
        if (violation) violated(violation);
      });
      child.once('exit', (code, sig) => {
        if (this.#child === child) {
          this.#child = undefined;
          this.#ready = undefined;
        }
        const reason = fault ?? (sig ? `the GPU worker was killed by ${sig}` : `the GPU worker exited with code ${code}`);
        const facts: FactsOf<'WORKER_CRASHED'> = fault !== undefined ? { cause: 'protocol' } : { cause: 'exit', code, signal: sig };
        if (!ready) reject(new HearthError('WORKER_CRASHED', `${reason} while starting`, facts));
        if (this.#closing) return;
        // A fault was logged when it was found; a plain exit is logged here.
        if (fault === undefined) this.#options.log?.('error', reason);
        this.#failPending(reason, 'WORKER_CRASHED', facts);
        for (const l of this.#crashListeners) l(reason);
      });
      child.once('error', (e) => this.#options.log?.('error', `GPU worker error: ${e.message}`));
      this.#send(child, { type: 'init', init: { runnerModules: this.#options.runnerModules, settings: this.#options.settings } });
    });
  }

  /** Handles a checked message from a started worker; returns a violation the message's content holds. */
  #onMessage(m: Exclude<FromWorker, { type: 'ready' | 'init-failed' }>): ProtocolViolation | undefined {
    if (m.type === 'log') {
      this.#options.log?.(m.level, m.message);
    } else if (m.type === 'counters') {
      this.#counters.report(m.model, m.counters);
    } else if (m.type === 'event') {
      // An unknown id is a call already settled (a late event): dropped, as the engine drops late events.
      this.#pending.get(m.id)?.onEvent?.(m.jobId, m.event);
    } else {
      // An unknown id is the answer to an `abort` (those are not awaited) or to a call already failed.
      const p = this.#pending.get(m.id);
      if (!p) return undefined;
      if (m.ok) {
        // Left pending when the value does not fit: the fault's exit rejects it with WORKER_CRASHED.
        const violation = p.answer(m.value);
        if (violation) return violation;
        this.#pending.delete(m.id);
      } else {
        this.#pending.delete(m.id);
        p.reject(HearthError.from(m.error));
      }
    }
    return undefined;
  }

  #failPending(reason: string, code: 'WORKER_CRASHED' | 'SHUTTING_DOWN', facts: FactsOf<'WORKER_CRASHED'> & FactsOf<'SHUTTING_DOWN'> = {}): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(new HearthError(code, reason, facts));
  }

  /** Same as `close()`, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
