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
import { SqliteStore } from '../../src/engine/store/sqlite-store.js';
import { createLogger } from '../../src/util/log.js';
import { SimRunner, type SimPayload } from '../fixtures/sim-runner.js';

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
  /** A fake nvidia-smi (and which processes are hearth's). */
  monitoring?: HearthAppOptions['monitoring'];
  clock?: HearthAppOptions['clock'];
}

async function png(p: SimPayload): Promise<{ png: Uint8Array; width: number; height: number }> {
  const width = p.width ?? 64;
  const height = p.height ?? 64;
  const seed = p.seed ?? 0;
  const buf = await sharp({ create: { width, height, channels: 3, background: { r: seed % 256, g: 80, b: 160 } } }).png().toBuffer();
  return { png: new Uint8Array(buf), width, height };
}

export async function simApp(opts: SimAppOptions): Promise<{ app: HearthApp; config: HearthConfig; dataDir: string }> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'hearth-app-'));
  const config = configSchema.parse({
    dataDir,
    models: {
      chat: { path: join(dataDir, 'sim.gguf') },
      image: { dir: join(dataDir, 'sim-sd') },
      caption: { dir: join(dataDir, 'sim-caption') },
    },
    ...opts.config,
  });
  // An aborted step (cancel, shutdown) ends early with the abort, as a real runner's does.
  const sleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
    await delay(ms, undefined, signal ? { signal } : {});
  };
  const hooks = { sleep, makePng: png };
  const runners = [
    new SimRunner({ model: 'chat', kind: 'chat', stepMs: opts.chatStepMs ?? 5, maxBatch: 4 }, hooks),
    new SimRunner({ model: 'image', kind: 'image', stepMs: opts.imageStepMs ?? 5 }, hooks),
    new SimRunner({ model: 'caption', kind: 'caption', stepMs: opts.captionStepMs ?? 5 }, hooks),
  ];
  const app = new HearthApp({
    config,
    log: createLogger('silent'),
    executor: new InProcessExecutor(runners),
    vramBudgetBytes: 100e9,
    adapters: opts.adapters,
    store: SqliteStore.open(join(dataDir, 'hearth.db')),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    ...(opts.headersForHost ? { headersForHost: opts.headersForHost } : {}),
    ...(opts.monitoring ? { monitoring: opts.monitoring } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  return { app, config, dataDir };
}
