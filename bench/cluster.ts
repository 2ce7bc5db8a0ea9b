/**
 * Throughput of a cluster on this machine: real tiny ONNX image jobs (the tiny SD fixture through the
 * real image runner, in `hearth worker` processes with their supervised GPU process) placed by the
 * coordinator (the real engine + ClusterExecutor) on one worker, then on two, each worker pinned to
 * its own CPU with `taskset -c N`. Redis is a real redis-server on a free port.
 *
 *   npx tsx bench/cluster.ts [jobs=8] [steps=4] [size=256]
 *
 * Reports jobs per second for one and for two workers, and their ratio. On this 2-vCPU VM two
 * independent ONNX processes give less than 2× (shared cores, memory bandwidth): the speed-up of many
 * GPUs belongs to bench/cluster-sim.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { DEFAULT_IMAGE_DEFAULTS, DEFAULT_IMAGE_LIMITS, buildImagePayload } from '../src/jobs/image.js';
import { writeTinySd } from '../test/fixtures/tiny-sd.js';
import { endsByJob, startCoordinator, waitFor, type Coordinator } from '../test/helpers/cluster.js';
import { startRedis } from '../test/helpers/redis-server.js';

const JOBS = Number(process.argv[2] ?? 8);
const STEPS = Number(process.argv[3] ?? 4);
const SIZE = Number(process.argv[4] ?? 256);
const HEARTBEAT_S = 0.5;
const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const TSX = fileURLToPath(new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url));

const redis = await startRedis();
const dir = mkdtempSync(join(tmpdir(), 'hearth-bench-cluster-'));
await writeTinySd(join(dir, 'tiny-sd'));
const children: ChildProcess[] = [];

/** `hearth worker` pinned to one CPU; resolves once it says it runs. */
async function worker(name: string, cpu: number): Promise<ChildProcess> {
  const config = join(dir, `${name}.yaml`);
  writeFileSync(
    config,
    [
      `dataDir: ${join(dir, `data-${name}`)}`,
      'log: { level: warn }',
      `models: { image: { dir: ${join(dir, 'tiny-sd')}, providers: [cpu] } }`,
      `cluster: { redisUrl: "${redis.url}", workerName: ${name}, capacity: 1, heartbeatSeconds: ${HEARTBEAT_S} }`,
      '',
    ].join('\n'),
  );
  const child = spawn('taskset', ['-c', String(cpu), process.execPath, '--import', TSX, MAIN, 'worker', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  await waitFor(`worker ${name} to start`, () => out.includes('is running'), 120_000);
  return child;
}

function submitImages(c: Coordinator, n: number, seed0: number): string[] {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = buildImagePayload({ prompt: 'a photo of a red cat on the hill', steps: STEPS, width: SIZE, height: SIZE, seed: seed0 + i }, { limits: DEFAULT_IMAGE_LIMITS, defaults: DEFAULT_IMAGE_DEFAULTS });
    if (!p.ok) throw new Error(p.error.message);
    const r = c.engine.submit({ kind: 'image', model: 'image', userId: `u${i % 4}`, payload: p.value as never });
    if (!r.ok) throw new Error(r.error.message);
    ids.push(r.value.id);
  }
  return ids;
}

/** Jobs per second of `n` images on the workers now joined (after one warm-up job per worker). */
async function measure(label: string, workers: number, db: string): Promise<number> {
  const c = await startCoordinator({ redisUrl: redis.url, dbPath: join(dir, db), heartbeatMs: HEARTBEAT_S * 1000, declaredModels: [{ model: 'image', kind: 'image' }] });
  try {
    await waitFor(`${workers} worker(s) to join`, () => c.executor.workers().length === workers, 30_000);
    submitImages(c, workers, 1000); // warm-up: each worker loads the model
    await c.engine.whenIdle();
    const t0 = performance.now();
    const ids = submitImages(c, JOBS, 1);
    let both = 0;
    const watch = setInterval(() => {
      if (c.executor.workers().filter((w) => w.running.length > 0).length === 2) both++;
    }, 20);
    await c.engine.whenIdle();
    clearInterval(watch);
    const seconds = (performance.now() - t0) / 1000;
    const ends = endsByJob(c.events);
    const done = ids.filter((id) => ends.get(id)?.join() === 'result').length;
    if (done !== JOBS) throw new Error(`${label}: ${done} of ${JOBS} jobs ended with a result`);
    const perWorker = new Map<string, number>();
    for (const p of c.executor.placements().filter((p) => ids.includes(p.jobId))) perWorker.set(p.worker, (perWorker.get(p.worker) ?? 0) + 1);
    const rate = JOBS / seconds;
    console.log(`${label}: ${JOBS} images (${SIZE}², ${STEPS} steps) in ${seconds.toFixed(1)} s = ${rate.toFixed(3)} jobs/s; placed ${JSON.stringify(Object.fromEntries(perWorker))}${workers === 2 ? `; both busy in ${both} samples (20 ms)` : ''}`);
    return rate;
  } finally {
    await c.close();
  }
}

try {
  const a = await worker('cpu0', 0);
  const one = await measure('one worker (CPU 0)', 1, 'one.db');
  await worker('cpu1', 1);
  const two = await measure('two workers (CPU 0, CPU 1)', 2, 'two.db');
  console.log(`two workers / one worker throughput: ${(two / one).toFixed(2)}×`);
  void a;
} finally {
  for (const c of children) c.kill('SIGKILL');
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
}
