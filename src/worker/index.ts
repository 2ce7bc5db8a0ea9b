/**
 * Running the GPU work in a supervised child process: the parent side ({@link ChildProcessExecutor},
 * {@link createGpuWorker}) and the protocol it speaks with the child (src/worker/main.ts). The engine
 * sees only its `Executor` interface; nothing in src/engine imports from here.
 */
export { ChildProcessExecutor, type ChildProcessExecutorOptions } from './child-process-executor.js';
export { createGpuWorker } from './gpu-worker.js';
