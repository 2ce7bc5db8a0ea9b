/**
 * Two GPU workers on this machine, each a process pinned to its own CPU (`taskset -c 0`, `-c 1`),
 * with different model sets, run a mixed load side by side: both are busy at the same moment, and
 * every job is placed on a worker that serves its model. (Their throughput against one worker is
 * measured in bench/cluster.ts, not here.)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { JobSpec } from '../../src/engine/types.js';
import type { SimModelSpec } from '../fixtures/sim-runner.js';
import { endsByJob, startCoordinator, startWorker, waitFor, type Coordinator, type TestWorker } from '../helpers/cluster.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

const HEARTBEAT_MS = 300;
const IMAGE: SimModelSpec = { model: 'sim-image', kind: 'image', stepMs: 25 };
const CHAT: SimModelSpec = { model: 'sim-chat', kind: 'chat', stepMs: 15 };
const CAPTION: SimModelSpec = { model: 'sim-caption', kind: 'caption', stepMs: 30 };
const SERVES: Record<string, string[]> = { cpu0: ['sim-image', 'sim-chat'], cpu1: ['sim-image', 'sim-caption'] };

let redis: RedisServer;
let dir: string;
const workers: TestWorker[] = [];
let c: Coordinator | undefined;

beforeAll(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'hearth-cluster-pinned-'));
});
afterAll(async () => {
  await c?.close();
  for (const w of workers) await w.kill();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('two workers pinned to CPU 0 and CPU 1 run jobs side by side, each job on a worker serving its model', async () => {
  workers.push(await startWorker({ redisUrl: redis.url, name: 'cpu0', cpu: 0, models: [IMAGE, CHAT], heartbeatMs: HEARTBEAT_MS }));
  workers.push(await startWorker({ redisUrl: redis.url, name: 'cpu1', cpu: 1, models: [IMAGE, CAPTION], heartbeatMs: HEARTBEAT_MS }));
  // Each really runs on its own CPU only.
  for (const [i, w] of workers.entries()) {
    const affinity = execFileSync('taskset', ['-cp', String(w.child.pid)], { encoding: 'utf8' });
    expect(affinity.trim().endsWith(`: ${i}`), affinity).toBe(true);
  }
  c = await startCoordinator({ redisUrl: redis.url, dbPath: join(dir, 'pinned.db'), heartbeatMs: HEARTBEAT_MS });
  const specs: JobSpec[] = [];
  for (let i = 0; i < 12; i++) {
    const kind = (['image', 'chat', 'caption'] as const)[i % 3]!;
    const model = { image: 'sim-image', chat: 'sim-chat', caption: 'sim-caption' }[kind];
    specs.push({ kind, model, userId: `u${i % 5}`, payload: { steps: kind === 'image' ? 12 : 6 } });
  }
  const ids = specs.map((s) => {
    const r = c!.engine.submit(s);
    if (!r.ok) throw new Error(r.error.message);
    return r.value.id;
  });
  // Watched as it runs: the moments when both workers had a job at once.
  let both = 0;
  const watch = setInterval(() => {
    const ws = c!.executor.workers();
    if (ws.length === 2 && ws.every((w) => w.running.length > 0)) both++;
  }, 10);
  await c.engine.whenIdle();
  clearInterval(watch);
  expect(both, 'samples with both workers busy').toBeGreaterThan(0);
  const ends = endsByJob(c.events);
  for (const id of ids) expect(ends.get(id), `job ${id}`).toEqual(['result']);
  const placements = c.executor.placements();
  expect(placements.map((p) => p.jobId).sort()).toEqual([...ids].sort());
  for (const p of placements) expect(SERVES[p.worker], `${p.model} on ${p.worker}`).toContain(p.model);
  // Both took work: chat only on cpu0, captions only on cpu1.
  expect(new Set(placements.map((p) => p.worker))).toEqual(new Set(['cpu0', 'cpu1']));
  await waitFor('nothing left running', () => c!.executor.workers().every((w) => w.running.length === 0));
});
