/**
 * The dashboard of a coordinator in a real Chromium: the "GPU workers" panel lists each worker (a
 * process, the first with its own fake nvidia-smi) with its models, VRAM, the job it runs and its telemetry.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { HearthApp } from '../../src/app/hearth-app.js';
import { createWebAdapter, type WebAdapter } from '../../src/bots/web/index.js';
import { ClusterExecutor } from '../../src/cluster/index.js';
import { configSchema } from '../../src/config/schema.js';
import { LogCapture } from '../helpers/log-capture.js';
import { startWorker, type TestWorker } from '../helpers/cluster.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { launchBrowser, type Browser } from './support/browser.js';

const HEARTBEAT_MS = 300;
let redis: RedisServer;
let dataDir: string;
let app: HearthApp;
let web: WebAdapter;
let browser: Browser;
const workers: TestWorker[] = [];

beforeAll(async () => {
  redis = await startRedis();
  dataDir = mkdtempSync(join(tmpdir(), 'hearth-cluster-dash-'));
  workers.push(
    await startWorker({ redisUrl: redis.url, name: 'big-box', models: [{ model: 'image', kind: 'image', stepMs: 40 }], heartbeatMs: HEARTBEAT_MS, gpuCsv: '0, 87, 10240, 24564, 67, 215.4\n' }),
    await startWorker({ redisUrl: redis.url, name: 'laptop', models: [{ model: 'chat', kind: 'chat', stepMs: 20 }], heartbeatMs: HEARTBEAT_MS }),
  );
  const config = configSchema.parse({
    dataDir,
    web: { port: 0 },
    models: { chat: { path: join(dataDir, 'remote.gguf') }, image: { dir: join(dataDir, 'remote-sd') } },
    cluster: { redisUrl: redis.url, heartbeatSeconds: HEARTBEAT_MS / 1000 },
  });
  const executor = new ClusterExecutor({ redisUrl: redis.url, heartbeatMs: HEARTBEAT_MS, declaredModels: [{ model: 'chat', kind: 'chat' }, { model: 'image', kind: 'image' }] });
  app = new HearthApp({ config, log: new LogCapture().log, executor, cluster: executor, vramBudgetBytes: 8e9, adapters: [(ctx) => (web = createWebAdapter(ctx))] });
  await app.start();
  browser = await launchBrowser(inject('chromiumPath'));
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  for (const w of workers) await w.kill();
  await redis?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

it('lists the workers with their models, VRAM, running job and GPU telemetry', async () => {
  const r = app.engine.submit({ kind: 'image', model: 'image', userId: 'discord:ada', payload: { steps: 400 } });
  if (!r.ok) throw new Error(r.error.message);
  const dash = await browser.open('/dashboard', web.url());
  expect(await dash.isVisible('#workers-panel')).toBe(true);
  await dash.waitForSelector(`#workers .worker[data-worker="big-box"] .running[data-job-id="${r.value.id}"]`);
  const big = (await dash.textContent('#workers .worker[data-worker="big-box"]')) ?? '';
  expect(big).toContain('image (image)');
  expect(big).toContain('1 of 1 slots busy');
  expect(big).toContain('87% busy');
  expect(big).toContain('67 °C');
  const laptop = (await dash.textContent('#workers .worker[data-worker="laptop"]')) ?? '';
  expect(laptop).toContain('chat (chat)');
  expect(laptop).toContain('0 of 1 slots busy');
  expect(laptop).toContain('No GPU telemetry');
  expect(browser.errors).toEqual([]);
  expect(app.engine.cancel(r.value.id, { userId: 'discord:ada' }).ok).toBe(true);
  await app.engine.whenIdle();
});
