import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ExecStepOptions, Executor, ModelDescriptor } from '../engine/executor/executor.js';
import type { RunnerJob, StepOutput } from '../engine/runner.js';
import { HearthError, type Json } from '../engine/types.js';
import type { FromWorker, Request, ResponseValue, ToWorker } from './protocol.js';

export interface ChildProcessExecutorOptions {
  /** Modules whose default export is a RunnerFactory, imported inside the worker. */
  runnerModules: string[];
  /** Passed to every factory. */
  settings: Json;
  /** Extra environment for the worker. */
  env?: NodeJS.ProcessEnv;
  /** Called with the worker's own log lines and the supervisor's notes. */
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

interface Pending {
  resolve: (v: ResponseValue) => void;
  reject: (e: unknown) => void;
  onEvent?: ExecStepOptions['emit'];
}

/**
 * The worker entry next to this build: `.ts` under tests (run through tsx's loader, found from here
 * so the worker starts whatever the current directory), `.js` once compiled.
 */
function workerEntry(): { path: string; execArgv: string[] } {
  const here = import.meta.url;
  const ts = here.endsWith('.ts');
  const url = new URL(`./main.${ts ? 'ts' : 'js'}`, here);
  if (!ts) return { path: fileURLToPath(url), execArgv: [] };
  const tsxLoader = join(dirname(createRequire(here).resolve('tsx/package.json')), 'dist', 'loader.mjs');
  return { path: fileURLToPath(url), execArgv: ['--import', pathToFileURL(tsxLoader).href] };
}

/**
 * Runs the runners in a child process and supervises it: when the worker dies (native abort, OOM
 * kill), every pending call rejects with `WORKER_CRASHED`, crash listeners are told, and the next call
 * starts a fresh worker. The main process's event loop never waits on model code.
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

  async describe(opts: { signal?: AbortSignal } = {}): Promise<ModelDescriptor[]> {
    return (await this.#call({ op: 'describe' }, opts.signal)) as ModelDescriptor[];
  }

  async load(model: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#call({ op: 'load', model }, opts.signal);
  }

  async unload(model: string): Promise<void> {
    await this.#call({ op: 'unload', model });
  }

  async begin(job: RunnerJob, opts: { signal?: AbortSignal } = {}): Promise<{ steps: number }> {
    return (await this.#call({ op: 'begin', job }, opts.signal)) as { steps: number };
  }

  async step(model: string, jobIds: string[], opts: ExecStepOptions): Promise<StepOutput[]> {
    return (await this.#call({ op: 'step', model, jobIds }, opts.signal, opts.emit)) as StepOutput[];
  }

  async end(model: string, jobId: string): Promise<void> {
    await this.#call({ op: 'end', model, jobId });
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

  async #call(request: Request, signal?: AbortSignal, onEvent?: ExecStepOptions['emit']): Promise<ResponseValue> {
    if (this.#closing) throw new HearthError('SHUTTING_DOWN', 'hearth is shutting down');
    signal?.throwIfAborted();
    const child = await this.#ensure();
    const id = this.#nextId++;
    return new Promise<ResponseValue>((resolve, reject) => {
      const pending: Pending = { resolve, reject };
      if (onEvent) pending.onEvent = onEvent;
      this.#pending.set(id, pending);
      const onAbort = (): void => {
        this.#send(child, { type: 'request', id: this.#nextId++, request: { op: 'abort', target: id } });
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => signal?.removeEventListener('abort', onAbort);
      pending.resolve = (v) => {
        done();
        resolve(v);
      };
      pending.reject = (e) => {
        done();
        reject(e);
      };
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
    const { path, execArgv } = workerEntry();
    this.#starts++;
    const child = fork(path, [], {
      execArgv,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, ...this.#options.env },
    });
    this.#child = child;
    return new Promise<ChildProcess>((resolve, reject) => {
      let ready = false;
      child.on('message', (m: FromWorker) => {
        if (m.type === 'ready') {
          ready = true;
          resolve(child);
        } else if (m.type === 'init-failed') {
          reject(HearthError.from(m.error));
          child.kill('SIGKILL');
        } else this.#onMessage(m);
      });
      child.once('exit', (code, sig) => {
        if (this.#child === child) {
          this.#child = undefined;
          this.#ready = undefined;
        }
        const reason = sig ? `the GPU worker was killed by ${sig}` : `the GPU worker exited with code ${code}`;
        if (!ready) reject(new HearthError('WORKER_CRASHED', `${reason} while starting`, { code, signal: sig }));
        if (this.#closing) return;
        this.#options.log?.('error', reason);
        this.#failPending(reason, 'WORKER_CRASHED');
        for (const l of this.#crashListeners) l(reason);
      });
      child.once('error', (e) => this.#options.log?.('error', `GPU worker error: ${e.message}`));
      this.#send(child, { type: 'init', init: { runnerModules: this.#options.runnerModules, settings: this.#options.settings } });
    });
  }

  #onMessage(m: FromWorker): void {
    if (m.type === 'log') {
      this.#options.log?.(m.level, m.message);
    } else if (m.type === 'event') {
      this.#pending.get(m.id)?.onEvent?.(m.jobId, m.event);
    } else if (m.type === 'response') {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(HearthError.from(m.error));
    }
  }

  #failPending(reason: string, code: 'WORKER_CRASHED' | 'SHUTTING_DOWN'): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(new HearthError(code, reason));
  }

  /** Same as `close()`, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
