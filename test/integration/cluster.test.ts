/**
 * The cluster with a real redis-server: a coordinator (the real engine on a real SQLite file, with the
 * ClusterExecutor) in this process, and GPU workers as their own processes with simulated runners that
 * really sleep. Placement, side-by-side work, streaming, results with PNG bytes, cancel, and a worker
 * killed mid-job.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { JobSpec } from '../../src/engine/types.js';
import { TINY_PNG } from '../fixtures/tiny-png.js';
import type { SimModelSpec } from '../fixtures/sim-runner.js';
import { endsByJob, startCoordinator, startWorker, waitFor, type Coordinator, type TestWorker } from '../helpers/cluster.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

const HEARTBEAT_MS = 300;
const IMAGE: SimModelSpec = { model: 'sim-image', kind: 'image', stepMs: 40 };
const CHAT: SimModelSpec = { model: 'sim-chat', kind: 'chat', stepMs: 30 };
const COORDINATOR = fileURLToPath(new URL('../fixtures/cluster-coordinator.ts', import.meta.url));
const TSX = fileURLToPath(new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url));

let redis: RedisServer;
let dir: string;
const workers: TestWorker[] = [];
const coordinators: Coordinator[] = [];

beforeAll(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'hearth-cluster-'));
});

afterEach(async () => {
  for (const c of coordinators.splice(0)) await c.close();
  for (const w of workers.splice(0)) await w.kill();
  const r = new Redis(redis.url);
  await r.flushall();
  r.disconnect();
});

afterAll(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function worker(name: string, models: SimModelSpec[], capacity = 1): Promise<TestWorker> {
  const w = await startWorker({ redisUrl: redis.url, name, models, capacity, heartbeatMs: HEARTBEAT_MS });
  workers.push(w);
  return w;
}

async function coordinator(db: string): Promise<Coordinator> {
  const c = await startCoordinator({ redisUrl: redis.url, dbPath: join(dir, db), heartbeatMs: HEARTBEAT_MS });
  coordinators.push(c);
  return c;
}

function submit(c: Coordinator, spec: JobSpec): string {
  const r = c.engine.submit(spec);
  if (!r.ok) throw new Error(`refused: ${r.error.code} ${r.error.message}`);
  return r.value.id;
}

describe('cluster (real redis-server, workers as processes)', () => {
  it('runs jobs side by side on two workers, each on a worker that serves its model, streaming and returning PNG bytes', async () => {
    await worker('alpha', [IMAGE, CHAT]);
    await worker('beta', [IMAGE]);
    const c = await coordinator('side-by-side.db');
    expect(c.engine.models().map((m) => m.model).sort()).toEqual(['sim-chat', 'sim-image']);

    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(submit(c, { kind: 'image', model: 'sim-image', userId: `u${i}`, payload: { steps: 12, width: 8, height: 8 } }));
    }
    ids.push(submit(c, { kind: 'chat', model: 'sim-chat', userId: 'u9', payload: { steps: 6, token: 'w' } }));

    // Both workers busy at the same moment.
    await waitFor('both workers running a job at once', () => {
      const ws = c.executor.workers();
      return ws.length === 2 && ws.every((w) => w.running.length > 0);
    });
    await c.engine.whenIdle();
    const ends = endsByJob(c.events);
    for (const id of ids) expect(ends.get(id), `job ${id}`).toEqual(['result']);
    const serves: Record<string, string[]> = { alpha: ['sim-image', 'sim-chat'], beta: ['sim-image'] };
    const placements = c.executor.placements();
    expect(placements.map((p) => p.jobId).sort()).toEqual([...ids].sort());
    for (const p of placements) expect(serves[p.worker], `${p.jobId} on ${p.worker}`).toContain(p.model);
    expect(new Set(placements.filter((p) => p.model === 'sim-image').map((p) => p.worker))).toEqual(new Set(['alpha', 'beta']));

    // Tokens and progress streamed back; the image's PNG bytes came back and were stored.
    const chatId = ids[3]!;
    expect(c.events.filter((e) => e.jobId === chatId && e.event.type === 'token')).toHaveLength(6);
    expect(c.store.getJob(chatId)?.result?.text).toBe('w'.repeat(6));
    const imageId = ids[0]!;
    const progress = c.events.filter((e) => e.jobId === imageId && e.event.type === 'progress');
    expect(progress.length).toBe(12);
    const stored = c.store.getJob(imageId)?.result?.image;
    expect(stored && Buffer.from(stored.png).equals(TINY_PNG)).toBe(true);
  });

  it('sends a cancel to the worker, which stops the job and takes the next', async () => {
    await worker('solo', [IMAGE]);
    const c = await coordinator('cancel.db');
    const long = submit(c, { kind: 'image', model: 'sim-image', userId: 'u1', payload: { steps: 500 } });
    const next = submit(c, { kind: 'image', model: 'sim-image', userId: 'u2', payload: { steps: 3 } });
    await waitFor('the long job to make progress', () => c.events.some((e) => e.jobId === long && e.event.type === 'progress'));
    expect(c.engine.cancel(long, { userId: 'u1' }).ok).toBe(true);
    // The worker stops it (its capacity is 1: the next job runs only once the long one has left it).
    await c.engine.whenIdle();
    expect(endsByJob(c.events).get(long)).toEqual(['cancelled']);
    expect(endsByJob(c.events).get(next)).toEqual(['result']);
    const progressOfLong = c.events.filter((e) => e.jobId === long && e.event.type === 'progress').length;
    expect(progressOfLong).toBeLessThan(500);
    const r = new Redis(redis.url);
    const beat = JSON.parse((await r.get('hearth:cluster:worker:solo')) ?? '{}') as { running?: string[] };
    r.disconnect();
    expect(beat.running ?? []).not.toContain(long);
  });

  it('a worker killed mid-job (kill -9): its job runs again on a worker that serves its model, every job answered once', async () => {
    const alpha = await worker('alpha', [IMAGE]);
    await worker('beta', [IMAGE]);
    await worker('gamma', [CHAT]);
    const c = await coordinator('kill.db');
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      ids.push(submit(c, { kind: 'image', model: 'sim-image', userId: `u${i}`, payload: { steps: 25 } }));
    }
    ids.push(submit(c, { kind: 'chat', model: 'sim-chat', userId: 'u8', payload: { steps: 10 } }));
    // A job on alpha has made progress: kill alpha under it.
    let victim: string | undefined;
    await waitFor('a job running on alpha with progress', () => {
      const onAlpha = c.executor.workers().find((w) => w.name === 'alpha')?.running.map((r) => r.jobId) ?? [];
      victim = onAlpha.find((id) => c.events.some((e) => e.jobId === id && e.event.type === 'progress'));
      return victim !== undefined;
    });
    await alpha.kill();
    await c.engine.whenIdle();

    const ends = endsByJob(c.events);
    for (const id of ids) expect(ends.get(id), `job ${id}`).toEqual(['result']);
    const record = c.store.getJob(victim!);
    expect(record?.crashes).toBe(1);
    expect(record?.attempts).toBe(2);
    const placed = c.executor.placements().filter((p) => p.jobId === victim);
    expect(placed.map((p) => p.worker)).toEqual(['alpha', 'beta']);
    for (const p of c.executor.placements()) {
      expect(p.model === 'sim-chat' ? ['gamma'] : ['alpha', 'beta']).toContain(p.worker);
    }
    expect(c.executor.workers().map((w) => w.name).sort()).toEqual(['beta', 'gamma']);
    expect(c.logs.some((l) => l.includes('alpha stopped answering'))).toBe(true);
  });

  it('a coordinator killed -9 mid-job: the next one resumes every job from its store, drops the stale work in Redis, answers each once', async () => {
    const solo = await worker('solo', [IMAGE]);
    const dbPath = join(dir, 'restart.db');
    const specs: JobSpec[] = [0, 1, 2].map((i) => ({ kind: 'image', model: 'sim-image', userId: `u${i}`, payload: { steps: 15 } }));
    const first = spawn(process.execPath, ['--import', TSX, COORDINATOR, JSON.stringify({ redisUrl: redis.url, dbPath, heartbeatMs: HEARTBEAT_MS, jobs: specs })], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    first.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await waitFor('the first coordinator to run a job', () => /submitted \S+/.test(out) && out.includes('progress '));
    const ids = /submitted (\S+)/.exec(out)?.[1]?.split(',') ?? [];
    expect(ids).toHaveLength(3);
    const exited = new Promise<void>((resolve) => first.once('exit', () => resolve()));
    first.kill('SIGKILL');
    await exited;

    const c = await coordinator('restart.db');
    await c.engine.whenIdle();
    const ends = endsByJob(c.events);
    for (const id of ids) {
      expect(ends.get(id), `job ${id}`).toEqual(['result']);
      expect(c.store.getJob(id)?.state).toBe('done');
      // A restart of the coordinator counts against no job.
      expect(c.store.getJob(id)?.crashes).toBe(0);
    }
    // The first run's job on the worker was dropped there, and nothing is left in its queue.
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(`w.solo.${solo.instance}`, { connection, prefix: 'hearth' });
    await waitFor('the worker queue to be empty', async () => {
      const counts = await queue.getJobCounts('active', 'waiting', 'delayed', 'completed', 'failed');
      return Object.values(counts).every((n) => n === 0);
    });
    await queue.close();
    connection.disconnect();
    expect(solo.log()).not.toMatch(/error/i);
  });
});
