/**
 * The cluster's workers are visible to admins: a whole coordinator hearth (HearthApp with the
 * ClusterExecutor and the web console) and two GPU workers as processes, each reading its own (fake)
 * nvidia-smi. The status command, its Discord wording, the dashboard's /api/status and /metrics list
 * each worker: name, models, VRAM, GPU telemetry and the job it runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HearthApp } from '../../src/app/hearth-app.js';
import { statusText } from '../../src/bots/discord/text.js';
import { createWebAdapter, type WebAdapter } from '../../src/bots/web/index.js';
import { ClusterExecutor } from '../../src/cluster/index.js';
import type { Invocation } from '../../src/commands/invocation.js';
import { configSchema } from '../../src/config/schema.js';
import type { WorkerStatus } from '../../src/monitoring/cluster-status.js';
import { LogCapture } from '../helpers/log-capture.js';
import { startWorker, waitFor, type TestWorker } from '../helpers/cluster.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

const HEARTBEAT_MS = 300;
const ADMIN: Invocation = { platform: 'web', userId: 'web:admin', admin: true, weight: 1, origin: null };

let redis: RedisServer;
let dataDir: string;
let app: HearthApp;
let web: WebAdapter;
const workers: TestWorker[] = [];

beforeAll(async () => {
  redis = await startRedis();
  dataDir = mkdtempSync(join(tmpdir(), 'hearth-cluster-visible-'));
  workers.push(
    await startWorker({
      redisUrl: redis.url,
      name: 'big-box',
      models: [{ model: 'image', kind: 'image', stepMs: 40 }, { model: 'chat', kind: 'chat', stepMs: 20 }],
      heartbeatMs: HEARTBEAT_MS,
      gpuCsv: '0, 87, 10240, 24564, 67, 215.4\n',
    }),
    await startWorker({ redisUrl: redis.url, name: 'laptop', models: [{ model: 'chat', kind: 'chat', stepMs: 20 }], heartbeatMs: HEARTBEAT_MS }),
  );
  const config = configSchema.parse({
    dataDir,
    web: { port: 0 },
    models: { chat: { path: join(dataDir, 'remote.gguf') }, image: { dir: join(dataDir, 'remote-sd') } },
    cluster: { redisUrl: redis.url, heartbeatSeconds: HEARTBEAT_MS / 1000 },
  });
  const executor = new ClusterExecutor({ redisUrl: redis.url, heartbeatMs: HEARTBEAT_MS, declaredModels: [{ model: 'chat', kind: 'chat' }, { model: 'image', kind: 'image' }] });
  app = new HearthApp({
    config,
    log: new LogCapture().log,
    executor,
    cluster: executor,
    vramBudgetBytes: 8e9,
    adapters: [(ctx) => (web = createWebAdapter(ctx))],
    monitoring: { run: async () => Promise.reject(Object.assign(new Error('not found'), { code: 'ENOENT' })) },
  });
  await app.start();
});

afterAll(async () => {
  await app?.close();
  for (const w of workers) await w.kill();
  await redis?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

function statusWorkers(): WorkerStatus[] {
  const s = app.commands.status(ADMIN);
  if (!s.ok) throw new Error(s.error.message);
  if (!s.value.workers) throw new Error('the status lists no workers on a coordinator');
  return s.value.workers;
}

describe('the workers of a cluster, as admins see them', () => {
  it('the status command lists each worker with its models, VRAM, telemetry and the job it runs', async () => {
    const r = app.engine.submit({ kind: 'image', model: 'image', userId: 'discord:ada', payload: { steps: 200 } });
    if (!r.ok) throw new Error(r.error.message);
    const jobId = r.value.id;
    await waitFor('the image job to run on big-box', () => statusWorkers().some((w) => w.name === 'big-box' && w.running.some((j) => j.jobId === jobId)));
    const ws = statusWorkers().sort((a, b) => a.name.localeCompare(b.name));
    expect(ws.map((w) => w.name)).toEqual(['big-box', 'laptop']);
    const [big, laptop] = ws as [WorkerStatus, WorkerStatus];
    expect(big.models.map((m) => m.model).sort()).toEqual(['chat', 'image']);
    expect(laptop.models.map((m) => m.model)).toEqual(['chat']);
    expect(big.vramBudgetBytes).toBe(8 * 2 ** 30);
    expect(big.running).toEqual([{ jobId, kind: 'image', model: 'image', userId: 'discord:ada' }]);
    expect(laptop.running).toEqual([]);
    expect(big.gpu.state).toBe('ok');
    expect(big.gpu.gpus[0]).toMatchObject({ index: 0, utilization: 0.87, temperatureCelsius: 67, powerWatts: 215.4, memoryUsedBytes: 10240 * 2 ** 20 });
    expect(laptop.gpu.state).toBe('off');

    // Not an admin: refused, workers included.
    expect(app.commands.status({ ...ADMIN, admin: false }).ok).toBe(false);

    // Discord's words for it (Slack's use the same lines).
    const s = app.commands.status(ADMIN);
    if (!s.ok) throw new Error(s.error.message);
    const text = statusText(s.value);
    expect(text).toContain('**Workers:** 2');
    expect(text).toMatch(/big-box \([^)]+\): (image, chat|chat, image) · 8\.0 GB VRAM · 1 of 1 slots busy: image for discord:ada/);
    expect(text).toContain('GPU 0: 87% busy · 10.0 of 24.0 GB VRAM · 67 °C · 215 W');
    expect(text).toMatch(/laptop \([^)]+\): chat · 8\.0 GB VRAM · idle/);
    expect(app.engine.cancel(jobId, { userId: 'discord:ada' }).ok).toBe(true);
    await app.engine.whenIdle();
    await waitFor('big-box to be idle', () => statusWorkers().every((w) => w.running.length === 0));
  });

  it('the dashboard feed (/api/status) and /metrics carry the workers', async () => {
    const view = (await (await fetch(new URL('/api/status', web.url()))).json()) as { workers: WorkerStatus[] | null };
    expect(view.workers?.map((w) => w.name).sort()).toEqual(['big-box', 'laptop']);
    expect(view.workers?.find((w) => w.name === 'big-box')?.gpu.gpus[0]?.temperatureCelsius).toBe(67);

    const r = app.engine.submit({ kind: 'chat', model: 'chat', userId: 'slack:bo', payload: { steps: 300, token: 'x' } });
    if (!r.ok) throw new Error(r.error.message);
    await waitFor('the chat job to run', () => statusWorkers().some((w) => w.running.length > 0));
    const busy = statusWorkers().find((w) => w.running.length > 0)!.name;

    const fams = new Map(parsePrometheusTextFormat(await (await fetch(new URL('/metrics', web.url()))).text()).map((f) => [f.name, f]));
    const sample = (name: string, labels: Record<string, string>): number | undefined => {
      const m = fams.get(name)?.metrics.find((x) => JSON.stringify(x.labels ?? {}) === JSON.stringify(labels));
      return m?.value === undefined ? undefined : Number(m.value);
    };
    for (const name of ['big-box', 'laptop']) {
      expect(sample('hearth_worker_up', { worker: name })).toBe(1);
      expect(sample('hearth_worker_capacity_jobs', { worker: name })).toBe(1);
      expect(sample('hearth_worker_vram_budget_bytes', { worker: name })).toBe(8 * 2 ** 30);
      expect(sample('hearth_worker_running_jobs', { worker: name })).toBe(name === busy ? 1 : 0);
    }
    expect(sample('hearth_worker_models', { worker: 'big-box' })).toBe(2);
    expect(sample('hearth_worker_gpu_utilization_ratio', { worker: 'big-box', gpu: '0' })).toBeCloseTo(0.87);
    expect(sample('hearth_worker_gpu_memory_total_bytes', { worker: 'big-box', gpu: '0' })).toBe(24564 * 2 ** 20);
    expect(sample('hearth_worker_gpu_temperature_celsius', { worker: 'big-box', gpu: '0' })).toBe(67);
    expect(sample('hearth_worker_gpu_power_watts', { worker: 'big-box', gpu: '0' })).toBeCloseTo(215.4);
    expect(fams.get('hearth_worker_gpu_utilization_ratio')?.metrics.some((m) => m.labels?.worker === 'laptop')).toBe(false);
    // The one-box families keep their names.
    expect(fams.has('hearth_jobs_total') && fams.has('hearth_gpu_utilization_ratio')).toBe(true);
    expect(app.engine.cancel(r.value.id, { userId: 'slack:bo' }).ok).toBe(true);
    await app.engine.whenIdle();

    // A worker that leaves is no longer listed, nor measured.
    await workers[1]!.stop();
    await waitFor('laptop to leave the list', () => !statusWorkers().some((w) => w.name === 'laptop'));
    const after = await (await fetch(new URL('/metrics', web.url()))).text();
    expect(after).not.toContain('worker="laptop"');
  });
});
