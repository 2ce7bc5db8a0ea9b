/**
 * Running the GPU work in a supervised child process: the parent side ({@link ChildProcessExecutor},
 * {@link createGpuWorker}), the protocol it speaks with the child, and where the child's entry is
 * (src/worker/main.ts, which is forked, never imported). The engine sees only its `Executor`
 * interface; nothing in src/engine imports from here.
 */
export { ChildProcessExecutor, workerEntry, type ChildProcessExecutorOptions } from './child-process-executor.js';
export { createGpuWorker } from './gpu-worker.js';
export {
  decodeFromWorker,
  decodeToWorker,
  decodeResponseValue,
  type FromWorker,
  type ToWorker,
  type Request,
  type Op,
  type ResponseValues,
  type WorkerInit,
  type ProtocolViolation,
} from './protocol.js';
