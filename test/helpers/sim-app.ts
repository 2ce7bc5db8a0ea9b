/**
 * A whole hearth (store, engine, commands, adapters) whose GPU is simulated: runners that really sleep
 * a few milliseconds per step, stream tokens, and make real PNGs. For adapter tests against fake
 * Discord/Slack servers; the runners' own tests cover the real models.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import sharp from 'sharp';
import { HearthApp, type HearthAppOptions } from '../../src/app/hearth-app.js';
import type { AdapterFactory } from '../../src/bots/adapter.js';
import { configSchema, type HearthConfig } from '../../src/config/schema.js';
import { InProcessExecutor } from '../../src/engine/executor/in-process-executor.js';
import type { Runner } from '../../src/engine/runner.js';
import type { Json } from '../../src/engine/types.js';
import builtinRunners from '../../src/runners/builtin.js';
import type { BuiltinRunnerSettings } from '../../src/runners/builtin-settings.js';
import { SqliteStore } from '../../src/engine/store/sqlite-store.js';
import { SimGate, SimRunner, type SimPayload } from '../fixtures/sim-runner.js';
import { LogCapture } from './log-capture.js';
import type { SimFaults } from './sim-faults.js';

export interface SimAppOptions {
  /** Partial config merged over the defaults (validated by the real schema). */
  config?: Record<string, unknown>;
  adapters: AdapterFactory[];
  chatStepMs?: number;
  imageStepMs?: number;
  captionStepMs?: number;
  /** Reuse a data dir (restart tests). */
  dataDir?: string;
  fetch?: typeof fetch;
  headersForHost?: (host: string) => Record<string, string> | undefined;
  /** Where hearth's log goes (a new capture at debug level by default): harnesses scan it for credentials. */
  logs?: LogCapture;
  /** Holds steps until the test releases them (a new gate by default, holding nothing). */
  gate?: SimGate;
  /** Faults the test can set on the simulated GPU (test/helpers/sim-faults.ts). */
  faults?: SimFaults;
  /**
   * When given, the executor's describe waits for it: a GPU worker still starting. `app.start()`
   * then waits for it too; `describing` settles once the adapters are up and the engine is waiting.
   */
  describeGate?: Promise<void>;
  /** A fake nvidia-smi (and which processes are hearth's). */
  monitoring?: HearthAppOptions['monitoring'];
  clock?: HearthAppOptions['clock'];
  /** Real runners served beside the simulated ones (a tiny embedding model for search by meaning). */
  runners?: Runner[];
  /**
   * `models.image` keys (`dir` at least: an export a test wrote, test/fixtures/tiny-sdxl.ts) for the
   * real image runner, on the CPU and built from the config as the GPU worker builds it, in place of
   * the simulated one: what a face delivers is then the model's own picture.
   */
  realImage?: Record<string, unknown> & { dir: string };
}

/** An in-process executor whose describe says it was asked, then waits for a gate: a worker that takes a while to come up. */
class SlowStartExecutor extends InProcessExecutor {
  readonly #gate: Promise<void>;
  readonly #entered: () => void;
  constructor(runners: readonly Runner[], gate: Promise<void>, entered: () => void) {
    super(runners);
    this.#gate = gate;
    this.#entered = entered;
  }
  override async describe(): ReturnType<InProcessExecutor['describe']> {
    this.#entered();
    await this.#gate;
    return super.describe();
  }
}

/** The image runner the GPU worker would build from this config (src/worker/gpu-worker.ts), here in-process. */
async function realImageRunner(config: HearthConfig): Promise<Runner> {
  const settings: BuiltinRunnerSettings = {
    dataDir: config.dataDir,
    vramBudgetBytes: 100e9,
    models: { image: config.models.image },
    maxBytes: config.files.maxBytes,
    maxPixels: config.files.maxPixels,
  };
  // Through JSON, as the settings cross to the worker.
  const [runner] = await builtinRunners(JSON.parse(JSON.stringify(settings)) as Json);
  if (!runner) throw new Error('the built-in runners made no image runner');
  return runner;
}

async function png(p: SimPayload): Promise<{ png: Uint8Array; width: number; height: number }> {
  const width = p.width ?? 64;
  const height = p.height ?? 64;
  const seed = p.seed ?? 0;
  const buf = await sharp({ create: { width, height, channels: 3, background: { r: seed % 256, g: 80, b: 160 } } }).png().toBuffer();
  return { png: new Uint8Array(buf), width, height };
}

export async function simApp(opts: SimAppOptions): Promise<{ app: HearthApp; config: HearthConfig; dataDir: string; describing: Promise<void>; logs: LogCapture; gate: SimGate }> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'hearth-app-'));
  const config = configSchema.parse({
    dataDir,
    models: {
      chat: { path: join(dataDir, 'sim.gguf') },
      image: opts.realImage ? { providers: ['cpu'], ...opts.realImage } : { dir: join(dataDir, 'sim-sd') },
      caption: { dir: join(dataDir, 'sim-caption') },
    },
    ...opts.config,
  });
  // An aborted step (cancel, shutdown) ends early with the abort, as a real runner's does.
  const sleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
    await delay(ms, undefined, signal ? { signal } : {});
  };
  const gate = opts.gate ?? new SimGate();
  const hooks = { sleep, makePng: png, gate };
  const logs = opts.logs ?? new LogCapture();
  const sims: Runner[] = [
    new SimRunner({ model: 'chat', kind: 'chat', stepMs: opts.chatStepMs ?? 5, maxBatch: 4 }, hooks),
    new SimRunner({ model: 'image', kind: 'image', stepMs: opts.imageStepMs ?? 5 }, hooks),
    new SimRunner({ model: 'caption', kind: 'caption', stepMs: opts.captionStepMs ?? 5 }, hooks),
  ];
  if (opts.realImage) sims[1] = await realImageRunner(config);
  const faults = opts.faults;
  const runners: Runner[] = [...(faults ? sims.map((r) => faults.wrap(r)) : sims), ...(opts.runners ?? [])];
  let entered!: () => void;
  const describing = new Promise<void>((resolve) => (entered = resolve));
  const executor = new SlowStartExecutor(runners, opts.describeGate ?? Promise.resolve(), entered);
  const app = new HearthApp({
    config,
    log: logs.log,
    executor,
    vramBudgetBytes: 100e9,
    adapters: opts.adapters,
    store: SqliteStore.open(join(dataDir, 'hearth.db')),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    ...(opts.headersForHost ? { headersForHost: opts.headersForHost } : {}),
    ...(opts.monitoring ? { monitoring: opts.monitoring } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  return { app, config, dataDir, describing, logs, gate };
}
