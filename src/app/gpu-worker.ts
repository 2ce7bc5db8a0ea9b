import type { HearthConfig } from '../config/schema.js';
import { ChildProcessExecutor } from '../engine/executor/child-process-executor.js';
import type { Json } from '../engine/types.js';
import type { Logger } from '../util/log.js';

/** The built-in runner module (chat, image, caption), next to this build: `.ts` under tests, `.js` compiled. */
export function builtinRunnerModule(): string {
  const ts = import.meta.url.endsWith('.ts');
  return new URL(`../runners/builtin.${ts ? 'ts' : 'js'}`, import.meta.url).href;
}

/** What the GPU worker's runner factories are given. */
export interface BuiltinRunnerSettings {
  dataDir: string;
  vramBudgetBytes: number;
  models: HearthConfig['models'];
  /** files.maxBytes and files.maxPixels: the caption runner checks images against them again. */
  maxBytes: number;
  maxPixels: number;
}

/** The supervised GPU worker process with the built-in runners for the configured models. */
export function createGpuWorker(config: HearthConfig, vramBudgetBytes: number, log: Logger): ChildProcessExecutor {
  const settings: BuiltinRunnerSettings = {
    dataDir: config.dataDir,
    vramBudgetBytes,
    models: config.models,
    maxBytes: config.files.maxBytes,
    maxPixels: config.files.maxPixels,
  };
  return new ChildProcessExecutor({
    runnerModules: [builtinRunnerModule()],
    settings: JSON.parse(JSON.stringify(settings)) as Json,
    log: (level, message) => log[level]({ component: 'gpu-worker' }, message),
  });
}
