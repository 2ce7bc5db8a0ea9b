import type { HearthConfig } from '../config/schema.js';
import type { Json } from '../engine/types.js';
import { builtinRunnerModule, type BuiltinRunnerSettings } from '../runners/builtin-settings.js';
import type { Logger } from '../util/log.js';
import { ChildProcessExecutor } from './child-process-executor.js';

/**
 * The supervised GPU worker process with the built-in runners for the configured models: what
 * `hearth start` and `hearth doctor` run the GPU work in.
 */
export function createGpuWorker(config: HearthConfig, vramBudgetBytes: number, log: Logger): ChildProcessExecutor {
  // Typed here, from the config, so the compiler holds the config to what the runners read.
  const settings: BuiltinRunnerSettings = {
    dataDir: config.dataDir,
    vramBudgetBytes,
    models: config.models,
    maxBytes: config.files.maxBytes,
    maxPixels: config.files.maxPixels,
  };
  return new ChildProcessExecutor({
    runnerModules: [builtinRunnerModule()],
    // Through JSON: the settings cross to the worker as plain data (no undefined, no class instances).
    settings: JSON.parse(JSON.stringify(settings)) as Json,
    log: (level, message) => log[level]({ component: 'gpu-worker' }, message),
  });
}
