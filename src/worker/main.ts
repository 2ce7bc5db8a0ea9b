/**
 * The GPU worker process. It holds the model runners, so a native abort or an out-of-memory kill in
 * llama.cpp or ONNX Runtime takes down only this process; the main process's supervisor restarts it.
 */
import { pathToFileURL } from 'node:url';
import type { Runner, RunnerFactory } from '../engine/runner.js';
import { HearthError, type ErrorInfo } from '../engine/types.js';
import type { FromWorker, Request, ResponseValue, ToWorker } from './protocol.js';

const runners = new Map<string, Runner>();
const controllers = new Map<number, AbortController>();

function send(message: FromWorker): void {
  process.send?.(message);
}

function toInfo(e: unknown): ErrorInfo {
  if (e instanceof HearthError) return e.toInfo();
  const message = e instanceof Error ? e.message : String(e);
  return { code: 'RUNNER_FAILED', message };
}

function runner(model: string): Runner {
  const r = runners.get(model);
  if (!r) {
    throw new HearthError('MODEL_MISSING', `no model named "${model}" is configured`, {
      given: model,
      allowed: [...runners.keys()],
    });
  }
  return r;
}

async function handle(id: number, request: Request, signal: AbortSignal): Promise<ResponseValue> {
  switch (request.op) {
    case 'describe': {
      const out = [];
      for (const r of runners.values()) {
        let vramBytes = 0;
        try {
          vramBytes = await r.vramBytes();
        } catch (e) {
          // A missing or broken model must not keep the others from serving: its jobs fail at load
          // with the runner's own error (MODEL_MISSING, MODEL_INVALID), which names the file.
          send({ type: 'log', level: 'warn', message: `model "${r.model}" cannot be estimated: ${toInfo(e).message}` });
        }
        out.push({ model: r.model, kind: r.kind, maxBatch: r.maxBatch, vramBytes });
      }
      return out;
    }
    case 'load':
      await runner(request.model).load({ signal });
      return null;
    case 'unload':
      await runner(request.model).unload();
      return null;
    case 'begin':
      return runner(request.job.model).begin(request.job, { signal });
    case 'step':
      return runner(request.model).step(request.jobIds, {
        signal,
        emit: (jobId, event) => send({ type: 'event', id, jobId, event }),
      });
    case 'end':
      await runner(request.model).end(request.jobId);
      return null;
    case 'abort':
      controllers.get(request.target)?.abort(new HearthError('RUNNER_FAILED', 'aborted by the engine'));
      return null;
  }
}

async function init(modules: string[], settings: ToWorker & { type: 'init' }): Promise<void> {
  for (const spec of modules) {
    const url = spec.startsWith('file:') || !spec.startsWith('/') ? spec : pathToFileURL(spec).href;
    const mod = (await import(url)) as { default?: RunnerFactory };
    if (typeof mod.default !== 'function') {
      throw new HearthError('RUNNER_FAILED', `runner module ${spec} has no default export function`, { given: spec });
    }
    for (const r of await mod.default(settings.init.settings)) runners.set(r.model, r);
  }
}

process.on('message', (raw: ToWorker) => {
  if (raw.type === 'init') {
    init(raw.init.runnerModules, raw).then(
      () => send({ type: 'ready' }),
      (e: unknown) => send({ type: 'init-failed', error: toInfo(e) }),
    );
    return;
  }
  const { id, request } = raw;
  const controller = new AbortController();
  controllers.set(id, controller);
  handle(id, request, controller.signal).then(
    (value) => send({ type: 'response', id, ok: true, value }),
    (e: unknown) => send({ type: 'response', id, ok: false, error: toInfo(e) }),
  ).finally(() => controllers.delete(id));
});

// The parent going away (even by kill -9) closes the IPC channel: leave with it, never orphaned on a GPU.
process.on('disconnect', () => {
  void shutdown();
});

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const r of runners.values()) {
    try {
      await r.dispose();
    } catch {
      // Best effort: the process exits anyway and the OS frees what is left.
    }
  }
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
