/**
 * The GPU worker process (the child of ./child-process-executor.ts). It holds the model runners, so a
 * native abort or an out-of-memory kill in llama.cpp or ONNX Runtime takes down only this process;
 * the main process's supervisor restarts it.
 *
 * It checks every message against ./protocol.ts: a malformed one is answered with an INVALID_INPUT
 * error when its call id can be read (so the parent is never left waiting), or reported in a log line
 * otherwise; it never throws. With the parent gone, it disposes its runners and exits 0, quietly.
 */
import { pathToFileURL } from 'node:url';
import type { Runner, RunnerFactory } from '../engine/runner.js';
import { HearthError, messageOf, toErrorInfo } from '../engine/types.js';
import {
  decodeToWorker,
  OPS,
  requestIdOf,
  type FromWorker,
  type Request,
  type ResponseValue,
  type ToWorker,
  type WorkerInit,
} from './protocol.js';

const runners = new Map<string, Runner>();
const controllers = new Map<number, AbortController>();
let initialised = false;
/** Set once the worker is leaving: runners are being disposed, nothing more is sent. */
let stopping = false;

function send(message: FromWorker): void {
  // The parent is gone (kill -9, or it closed the channel): what we would say has no one to hear it.
  if (!process.connected || stopping) return;
  // With a callback, a failed send (EPIPE when the parent died before we saw the channel close) is
  // handed to us instead of thrown as an 'error' event that would kill the process with a stack trace.
  process.send?.(message, undefined, undefined, (e: Error | null) => {
    if (e) void shutdown();
  });
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
          send({ type: 'log', level: 'warn', message: `model "${r.model}" cannot be estimated: ${messageOf(e)}` });
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
    case 'step': {
      const r = runner(request.model);
      const outputs = await r.step(request.jobIds, {
        signal,
        emit: (jobId, event) => send({ type: 'event', id, jobId, event }),
      });
      // Before the response, so the main process's figures include this step when it sees its end.
      const counters = r.counters?.();
      if (counters) send({ type: 'counters', model: r.model, counters });
      return outputs;
    }
    case 'end':
      await runner(request.model).end(request.jobId);
      return null;
    case 'abort':
      controllers.get(request.target)?.abort(new HearthError('RUNNER_FAILED', 'aborted by the engine'));
      return null;
  }
}

async function init(init: WorkerInit): Promise<void> {
  for (const spec of init.runnerModules) {
    const url = spec.startsWith('file:') || !spec.startsWith('/') ? spec : pathToFileURL(spec).href;
    const mod = (await import(url)) as { default?: RunnerFactory };
    if (typeof mod.default !== 'function') {
      throw new HearthError('RUNNER_FAILED', `runner module ${spec} has no default export function`, { given: spec });
    }
    for (const r of await mod.default(init.settings)) runners.set(r.model, r);
  }
}

function onMessage(message: ToWorker): void {
  if (message.type === 'init') {
    if (initialised) {
      send({ type: 'log', level: 'warn', message: 'the GPU worker was sent init twice; the second was ignored' });
      return;
    }
    initialised = true;
    init(message.init).then(
      () => send({ type: 'ready' }),
      (e: unknown) => send({ type: 'init-failed', error: toErrorInfo(e) }),
    );
    return;
  }
  const { id, request } = message;
  const controller = new AbortController();
  controllers.set(id, controller);
  handle(id, request, controller.signal)
    .then(
      (value) => send({ type: 'response', id, ok: true, value }),
      (e: unknown) => send({ type: 'response', id, ok: false, error: toErrorInfo(e) }),
    )
    .finally(() => controllers.delete(id));
}

process.on('message', (raw: unknown) => {
  const decoded = decodeToWorker(raw);
  if (decoded.ok) return onMessage(decoded.message);
  const { expected, received } = decoded.violation;
  const what = `the GPU worker was sent a message that breaks the protocol: expected ${expected}; got ${received}`;
  const id = requestIdOf(raw);
  if (id === undefined) {
    send({ type: 'log', level: 'error', message: what });
    return;
  }
  // An unknown op is the common case (a parent newer than this worker): say which ops there are.
  send({
    type: 'response',
    id,
    ok: false,
    error: { code: 'INVALID_INPUT', message: what, facts: { expected, received, ops: OPS } },
  });
});

// The parent going away (even by kill -9) closes the IPC channel: leave with it, never orphaned on a GPU.
process.on('disconnect', () => {
  void shutdown();
});

// stdout and stderr are the parent's: once it is gone, a write may fail with EPIPE. That is no reason
// to die with a stack trace (the exit would skip disposing the runners); leave as on disconnect.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', () => void shutdown());
}

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
