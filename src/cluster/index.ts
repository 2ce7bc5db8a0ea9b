/**
 * Past one GPU box (docs/cluster.md): the coordinator's executor, which places the engine's jobs on GPU
 * workers through BullMQ, and the worker side that runs them. Nothing in src/engine imports from here.
 */
export { ClusterExecutor, type ClusterExecutorOptions, type ClusterWorkerInfo, type Placement } from './cluster-executor.js';
export { WorkerNode, defaultWorkerName, type WorkerNodeOptions } from './worker-node.js';
export { redactRedisUrl } from './redis.js';
