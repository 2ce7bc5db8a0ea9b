/**
 * A whole hearth built the way `hearth start` builds it (src/cli/start.ts): its config read from a
 * YAML file by the real loader, the VRAM budget from `models.vramBudgetMB`, and the app factory
 * (HearthApp) making the store, engine, scheduler and limits from that config. Only the outer edge
 * is simulated: the GPU (simulated runners, in process) and time (a virtual clock the runners advance
 * by their step durations, so a run of minutes of GPU time takes milliseconds and never races).
 *
 * For promises about what a config value does, observed through behaviour (which step runs, what is
 * sent again, what is refused) rather than by reading a private field.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HearthApp } from '../../src/app/hearth-app.js';
import { resolveVramBudget } from '../../src/app/vram.js';
import { loadConfig, formatConfigError } from '../../src/config/load.js';
import type { HearthConfig } from '../../src/config/schema.js';
import { VirtualClock } from '../../src/engine/clock.js';
import { InProcessExecutor } from '../../src/engine/executor/in-process-executor.js';
import type { JobStore } from '../../src/engine/store/job-store.js';
import { SimRunner, type SimGate, type SimModelSpec } from '../fixtures/sim-runner.js';
import { LogCapture } from './log-capture.js';

export interface VirtualAppOptions {
  /** Folder of the config file and, unless `store` is given, of dataDir (hearth.db is opened there, as at start). */
  dir: string;
  /** The YAML after `dataDir: <dir>` (models, limits, …), as a person would write it. */
  yaml: string;
  /** The simulated runners; their `model` names match the config's models (chat, image, caption). */
  models: SimModelSpec[];
  /** The clock to go on from (a restart keeps the time); a new virtual clock by default. */
  clock?: VirtualClock;
  /** A store to use instead of dataDir/hearth.db (an in-memory SQLite store for unit tests). */
  store?: JobStore;
  /** Holds simulated steps until the test releases them. */
  gate?: SimGate;
}

export interface VirtualApp {
  app: HearthApp;
  config: HearthConfig;
  clock: VirtualClock;
  logs: LogCapture;
  /** Every simulated GPU step, in order: its model, the jobs it advanced and the virtual time it began. */
  stepLog: Array<{ model: string; jobIds: string[]; at: number }>;
}

/** nvidia-smi is not on this PATH: no GPU telemetry, and no real process is run. */
const noNvidiaSmi = (): Promise<string> => Promise.reject(Object.assign(new Error('spawn nvidia-smi ENOENT'), { code: 'ENOENT' }));

/**
 * Builds (does not start) a hearth from `dataDir: dir` + `yaml`, written to dir/hearth.yaml and read
 * back by the real config loader. Subscribe to `app.engine` before `app.start()` to see what a start
 * publishes (ends sent again).
 */
export async function virtualApp(opts: VirtualAppOptions): Promise<VirtualApp> {
  const file = join(opts.dir, 'hearth.yaml');
  writeFileSync(file, `dataDir: ${JSON.stringify(opts.dir)}\n${opts.yaml}`);
  const loaded = await loadConfig({ path: file, cwd: opts.dir, env: {} });
  if (!loaded.ok) throw new Error(formatConfigError(loaded.error));
  const { config } = loaded.value;
  const clock = opts.clock ?? new VirtualClock();
  const logs = new LogCapture();
  const stepLog: VirtualApp['stepLog'] = [];
  const hooks = {
    sleep: async (ms: number, signal?: AbortSignal) => {
      clock.advance(ms);
      // Let the engine's listeners run before the step ends, as a real step's await would.
      await Promise.resolve();
      signal?.throwIfAborted();
    },
    onStep: (model: string, jobIds: readonly string[]) => stepLog.push({ model, jobIds: [...jobIds], at: clock.now() }),
    ...(opts.gate ? { gate: opts.gate } : {}),
  };
  const runners = opts.models.map((spec) => new SimRunner(spec, hooks));
  const app = new HearthApp({
    config,
    log: logs.log,
    executor: new InProcessExecutor(runners),
    // As `hearth start` resolves it (a number in the config wins over nvidia-smi).
    vramBudgetBytes: resolveVramBudget(config.models.vramBudgetMB).bytes,
    adapters: [],
    clock,
    monitoring: { run: noNvidiaSmi },
    ...(opts.store ? { store: opts.store } : {}),
  });
  return { app, config, clock, logs, stepLog };
}
