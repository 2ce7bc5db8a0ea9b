import type { LoadedConfig } from '../config/load.js';
import { WorkerNode, defaultWorkerName, redactRedisUrl } from '../cluster/index.js';
import { resolveVramBudget } from '../app/vram.js';
import { createGpuWorker } from '../worker/index.js';
import { createLogger } from '../util/log.js';
import { GpuMonitor } from '../monitoring/gpu-monitor.js';
import { systemClock } from '../engine/clock.js';
import { EXIT } from './exit-codes.js';

/**
 * `hearth worker`: a GPU worker of a cluster (docs/cluster.md). It serves the `models` of its own config
 * in the supervised GPU process, announces them to the coordinator through `cluster.redisUrl`, and runs
 * the jobs placed on it until SIGINT/SIGTERM, when it finishes what it has and leaves. Returns the exit code.
 */
export async function runWorker(loaded: LoadedConfig): Promise<number> {
  const { config } = loaded;
  const redisUrl = config.cluster.redisUrl;
  if (!redisUrl) {
    process.stderr.write(
      'hearth worker needs cluster.redisUrl (a redis:// or rediss:// URL; the coordinator `hearth start` uses the same one)\n',
    );
    return EXIT.config;
  }
  const log = createLogger(config.log.level);
  const budget = resolveVramBudget(config.models.vramBudgetMB);
  const name = config.cluster.workerName ?? defaultWorkerName();
  // Its own GPU's telemetry goes with every heartbeat: the coordinator's dashboard shows it.
  const gpu = new GpuMonitor({
    pollSeconds: config.monitoring.gpuPollSeconds,
    clock: systemClock,
    log: { info: (m) => log.info({ component: 'gpu-monitor' }, m), warn: (m) => log.warn({ component: 'gpu-monitor' }, m) },
  });
  const node = new WorkerNode({
    redisUrl,
    ...(config.cluster.tlsCaFile ? { tlsCaFile: config.cluster.tlsCaFile } : {}),
    name,
    capacity: config.cluster.capacity,
    heartbeatMs: Math.round(config.cluster.heartbeatSeconds * 1000),
    executor: createGpuWorker(config, budget.bytes, log),
    vramBudgetBytes: budget.bytes,
    telemetry: () => gpu.telemetry(),
    log: (level, message) => log[level]({ component: 'cluster-worker', worker: name }, message),
  });
  try {
    await node.start();
    gpu.start();
  } catch (e) {
    process.stderr.write(`hearth worker could not start: ${e instanceof Error ? e.message : String(e)}\n`);
    await node.close().catch(() => {});
    gpu.dispose();
    return EXIT.failure;
  }
  const models = (['chat', 'image', 'caption', 'embedding'] as const).filter((k) => config.models[k]);
  process.stdout.write(
    [
      `hearth worker ${name} is running (config: ${loaded.path ?? 'defaults'})`,
      `  Models: ${models.length > 0 ? models.join(', ') : 'none configured — see models.* in config/hearth.example.yaml'}`,
      `  Redis:  ${redactRedisUrl(redisUrl)}`,
      '',
    ].join('\n'),
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stdout.write(`hearth worker ${name} is leaving (finishing its jobs)…\n`);
  try {
    await node.close();
    gpu.dispose();
    return EXIT.ok;
  } catch (e) {
    log.error({ err: { message: e instanceof Error ? e.message : String(e) } }, 'the worker did not close cleanly');
    return EXIT.failure;
  }
}
