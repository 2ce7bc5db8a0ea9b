/** The runner's side of the ONNX Runtime worker thread: typed calls, one promise per call. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { HearthError } from '../../engine/types.js';
import type { CallMessage, ReplyMessage, WorkerCall, WorkerResults } from './protocol.js';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (e: Error) => void;
}

/**
 * Starts the worker from the compiled `ort-worker.js` beside this file; when running from the
 * TypeScript sources (tests, `tsx`), loads `ort-worker.ts` through tsx's loader instead, since a
 * worker thread does not inherit the parent's loader hooks on Node 20.
 */
function startWorker(): Worker {
  const js = new URL('./ort-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return new Worker(js);
  const ts = new URL('./ort-worker.ts', import.meta.url);
  const code = `import(${JSON.stringify(tsxEsmApi())}).then((m) => m.tsImport(${JSON.stringify(ts.href)}, ${JSON.stringify(import.meta.url)}));`;
  return new Worker(code, { eval: true });
}

/** Absolute URL of tsx's ESM API (its CommonJS build cannot register the ESM loader from an eval worker). */
function tsxEsmApi(): string {
  const pkgFile = createRequire(import.meta.url).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  const entry = pkg.exports['./esm/api']?.import.default;
  if (!entry) throw new HearthError('RUNNER_FAILED', 'tsx has no ./esm/api export: cannot start the image worker from TypeScript sources');
  return pathToFileURL(join(dirname(pkgFile), entry)).href;
}

export class OrtWorkerClient {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exitedWith: HearthError | undefined;
  private closing: Promise<void> | undefined;

  constructor() {
    this.worker = startWorker();
    // Only calls in flight keep the process alive; an idle worker thread must not.
    this.worker.unref();
    this.worker.on('message', (msg: ReplyMessage) => this.onReply(msg));
    this.worker.on('error', (e: Error) => this.fail(new HearthError('RUNNER_FAILED', `the image worker thread failed: ${e.message}`)));
    this.worker.on('exit', (code) => this.fail(new HearthError('RUNNER_FAILED', `the image worker thread stopped (exit code ${code})`, { exitCode: code })));
  }

  /** False once the thread has stopped (crash or close): calls then fail at once. */
  get alive(): boolean {
    return this.exitedWith === undefined;
  }

  call<T extends WorkerCall>(call: T, transfer: ArrayBuffer[] = []): Promise<WorkerResults[T['type']]> {
    if (this.exitedWith) return Promise.reject(this.exitedWith);
    const id = this.nextId++;
    return new Promise<WorkerResults[T['type']]>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const msg: CallMessage = { id, call };
      this.worker.postMessage(msg, transfer);
    });
  }

  /** Releases the sessions and stops the thread; safe to call twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.alive) {
        // Let the thread release its sessions, but never wait long on a wedged one.
        await Promise.race([this.call({ type: 'close' }).catch(() => null), new Promise((r) => setTimeout(r, 5000).unref())]);
      }
      await this.worker.terminate();
      this.fail(new HearthError('RUNNER_FAILED', 'the image worker thread was closed'));
    })();
    return this.closing;
  }

  private onReply(msg: ReplyMessage): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (this.pending.size === 0) this.worker.unref();
    if (msg.ok) p.resolve(msg.value);
    else p.reject(HearthError.from(msg.error));
  }

  private fail(error: HearthError): void {
    this.exitedWith ??= error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }
}
