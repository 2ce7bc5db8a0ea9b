/**
 * The cluster at scale, on paper: hearth's real fair scheduler (VirtualTimeScheduler) and the
 * coordinator's real placement rule (src/cluster/placement.ts) drive simulated GPU workers on a
 * virtual clock. 10 workers with different model sets (capacity 2: two jobs share a GPU, each at half
 * speed), 1,000 people each with a backlog of mixed chat / image / caption jobs.
 *
 *   npx tsx bench/cluster-sim.ts [minutes=30] [seed=1]
 *   npx tsx bench/cluster-sim.ts --redis [jobs=40]   (Redis commands per job, on a real redis-server)
 *
 * As in the coordinator: the engine picks the next job fairly (least GPU-seconds received, per person;
 * FIFO within a person, one job of a person running at a time), the placement puts it on the worker
 * with most room among those serving its model; when none has room, the pick waits for one (the
 * dispatcher is blocked, head of line). GPU-seconds are charged as they are delivered.
 * Reported: Jain's fairness index of GPU-seconds received per person (all, and per class of people
 * by the model they use), placement efficiency (busy worker-time / available worker-time), jobs done.
 */
import { performance } from 'node:perf_hooks';
import { chooseWorker, type PlacementCandidate } from '../src/cluster/placement.js';
import type { PickContext } from '../src/engine/scheduler/policy.js';
import { VirtualTimeScheduler } from '../src/engine/scheduler/virtual-time-scheduler.js';
import { seededRandom as rng } from '../test/fixtures/seeded-random.js';

type Model = 'chat' | 'image' | 'caption';

interface SimJob {
  id: string;
  user: number;
  model: Model;
  /** GPU-seconds of work alone on a GPU. */
  work: number;
  remaining: number;
}

interface SimWorker extends PlacementCandidate {
  name: string;
  running: SimJob[];
  busySeconds: number;
}


const WORKERS: Array<{ name: string; models: Model[] }> = [
  ...[0, 1, 2, 3].map((i) => ({ name: `chat-${i}`, models: ['chat', 'caption'] as Model[] })),
  ...[0, 1, 2, 3].map((i) => ({ name: `image-${i}`, models: ['image', 'caption'] as Model[] })),
  { name: 'all-0', models: ['chat', 'image', 'caption'] },
  { name: 'chat-big', models: ['chat'] },
];
const PEOPLE = 1000;
const CAPACITY = 2;

function jain(xs: number[]): number {
  const s = xs.reduce((a, b) => a + b, 0);
  const q = xs.reduce((a, b) => a + b * b, 0);
  return xs.length === 0 || q === 0 ? NaN : (s * s) / (xs.length * q);
}

/** Seconds of one job alone on a GPU, by model. */
function jobWork(model: Model, r: () => number): number {
  if (model === 'chat') return 2 + r() * 10; // 2–12 s: a few hundred tokens
  if (model === 'image') return 4 + r() * 6; // 4–10 s: 20–30 steps
  return 0.4 + r() * 0.8; // captions
}

function simulate(minutes: number, seed: number) {
  const r = rng(seed);
  // People: a third chat-only, a third image-heavy, a third mixed; each with a backlog that outlasts the run.
  const classes: string[] = [];
  const backlog: SimJob[][] = [];
  let nextId = 0;
  for (let u = 0; u < PEOPLE; u++) {
    const cls = u % 3 === 0 ? 'chat' : u % 3 === 1 ? 'image' : 'mixed';
    classes.push(cls);
    const jobs: SimJob[] = [];
    for (let k = 0; k < 60; k++) {
      const x = r();
      const model: Model = cls === 'chat' ? (x < 0.9 ? 'chat' : 'caption') : cls === 'image' ? (x < 0.85 ? 'image' : 'caption') : x < 0.45 ? 'chat' : x < 0.85 ? 'image' : 'caption';
      const work = jobWork(model, r);
      jobs.push({ id: `j${nextId++}`, user: u, model, work, remaining: work });
    }
    backlog.push(jobs);
  }
  const workers: SimWorker[] = WORKERS.map((w) => ({ name: w.name, models: w.models.map((m) => ({ model: m })), capacity: CAPACITY, assigned: 0, draining: false, lastPlacedAt: 0, running: [], busySeconds: 0 }));
  const policy = new VirtualTimeScheduler();
  const ctx: PickContext = { isResident: () => true, fitsWithoutSwap: () => true, maxBatch: () => 1, begun: () => [] };
  const received = new Array<number>(PEOPLE).fill(0);
  const jobsById = new Map<string, SimJob>();
  let seq = 0;
  const enqueueHead = (u: number): void => {
    const job = backlog[u]!.shift();
    if (!job) return;
    jobsById.set(job.id, job);
    policy.add({ id: job.id, userId: String(u), model: job.model, batchable: false, weight: 1, seq: seq++, remainingSeconds: job.work });
  };
  for (let u = 0; u < PEOPLE; u++) enqueueHead(u);

  const end = minutes * 60;
  let now = 0;
  let done = 0;
  let picks = 0;
  let blocked: SimJob | undefined;
  let blockedSeconds = 0;
  const place = (job: SimJob): boolean => {
    const i = chooseWorker(workers, job.model);
    if (i < 0) return false;
    const w = workers[i]!;
    w.running.push(job);
    w.assigned++;
    w.lastPlacedAt = now + 1e-9 * ++picks; // strictly increasing, as Date.now() between placements
    return true;
  };
  const pickStarted = performance.now();
  while (now < end) {
    // Dispatch: the blocked pick first (the dispatcher waits in begin for room for it), then new picks.
    if (blocked && place(blocked)) blocked = undefined;
    while (!blocked) {
      const p = policy.pick(ctx);
      if (!p) break;
      const job = jobsById.get(p.jobIds[0]!)!;
      policy.remove(job.id);
      if (!place(job)) blocked = job;
    }
    // Next completion under processor sharing (k jobs on a GPU: each at 1/k speed).
    let dt = end - now;
    for (const w of workers) for (const j of w.running) dt = Math.min(dt, j.remaining * w.running.length);
    const charges: Array<{ userId: string; jobId: string; seconds: number }> = [];
    for (const w of workers) {
      const k = w.running.length;
      if (k === 0) continue;
      w.busySeconds += dt;
      for (const j of w.running) {
        const s = dt / k;
        j.remaining -= s;
        received[j.user]! += s;
        charges.push({ userId: String(j.user), jobId: j.id, seconds: s });
      }
    }
    policy.charge(charges);
    if (blocked) blockedSeconds += dt;
    now += dt;
    for (const w of workers) {
      const finished = w.running.filter((j) => j.remaining <= 1e-9);
      if (finished.length === 0) continue;
      w.running = w.running.filter((j) => j.remaining > 1e-9);
      w.assigned = w.running.length;
      for (const j of finished) {
        done++;
        jobsById.delete(j.id);
        enqueueHead(j.user);
      }
    }
  }
  const wallMs = performance.now() - pickStarted;
  const byClass = (c: string): number[] => received.filter((_, u) => classes[u] === c);
  const busy = workers.reduce((a, w) => a + w.busySeconds, 0);
  return {
    jainAll: jain(received),
    jainChat: jain(byClass('chat')),
    jainImage: jain(byClass('image')),
    jainMixed: jain(byClass('mixed')),
    meanReceived: { chat: avg(byClass('chat')), image: avg(byClass('image')), mixed: avg(byClass('mixed')) },
    efficiency: busy / (workers.length * end),
    perWorker: workers.map((w) => `${w.name} ${(100 * w.busySeconds / end).toFixed(0)}%`),
    blockedShare: blockedSeconds / end,
    done,
    wallMs,
  };
}

function avg(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}

/** Redis commands per job: a small sample on a real redis-server (INFO commandstats), idle traffic subtracted. */
async function redisOps(jobs: number): Promise<void> {
  const { Redis } = await import('ioredis');
  const { startRedis } = await import('../test/helpers/redis-server.js');
  const { startCoordinator, startWorker, waitFor } = await import('../test/helpers/cluster.js');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const redis = await startRedis();
  const dir = mkdtempSync(join(tmpdir(), 'hearth-sim-redis-'));
  const HB = 2000; // the default heartbeat (cluster.heartbeatSeconds: 2)
  const w1 = await startWorker({ redisUrl: redis.url, name: 'w1', capacity: 2, heartbeatMs: HB, models: [{ model: 'chat', kind: 'chat', stepMs: 20 }, { model: 'image', kind: 'image', stepMs: 20 }] });
  const w2 = await startWorker({ redisUrl: redis.url, name: 'w2', capacity: 2, heartbeatMs: HB, models: [{ model: 'image', kind: 'image', stepMs: 20 }] });
  const c = await startCoordinator({ redisUrl: redis.url, dbPath: join(dir, 'c.db'), heartbeatMs: HB });
  const admin = new Redis(redis.url);
  const total = async (): Promise<Map<string, number>> => {
    const info = await admin.info('commandstats');
    const m = new Map<string, number>();
    for (const line of info.split('\n')) {
      const x = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
      if (x) m.set(x[1]!, Number(x[2]));
    }
    return m;
  };
  const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
  try {
    await waitFor('workers', () => c.executor.workers().length === 2);
    // Idle traffic: heartbeats, the coordinator's polls, BullMQ's blocking waits and stalled checks.
    const i0 = sum(await total());
    const idleMs = 10_000;
    await new Promise((res) => setTimeout(res, idleMs));
    const idlePerSecond = (sum(await total()) - i0 - 1) / (idleMs / 1000);
    const steps = 10;
    const before = await total();
    const t0 = performance.now();
    for (let i = 0; i < jobs; i++) {
      const kind = i % 2 === 0 ? 'chat' : 'image';
      const r = c.engine.submit({ kind, model: kind, userId: `u${i % 7}`, payload: { steps } });
      if (!r.ok) throw new Error(r.error.message);
    }
    await c.engine.whenIdle();
    const seconds = (performance.now() - t0) / 1000;
    const after = await total();
    const diff = new Map<string, number>();
    for (const [k, v] of after) diff.set(k, v - (before.get(k) ?? 0));
    diff.set('info', (diff.get('info') ?? 0) - 1);
    const all = sum(diff);
    const net = all - idlePerSecond * seconds;
    const top = [...diff].filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => `${k} ${(v / jobs).toFixed(1)}`);
    console.log(`Redis: ${jobs} jobs of ${steps} steps on 2 workers in ${seconds.toFixed(1)} s: ${all} commands (${(all / jobs).toFixed(1)} per job); idle traffic ${idlePerSecond.toFixed(1)}/s, so ${(net / jobs).toFixed(1)} per job net (${(net / jobs / steps).toFixed(2)} per step)`);
    console.log(`  per job, by command: ${top.join(', ')}`);
  } finally {
    admin.disconnect();
    await c.close();
    await w1.kill();
    await w2.kill();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--redis') {
  await redisOps(Number(process.argv[3] ?? 40));
} else {
  const minutes = Number(process.argv[2] ?? 30);
  const seed = Number(process.argv[3] ?? 1);
  const s = simulate(minutes, seed);
  console.log(`cluster-sim: ${WORKERS.length} workers (capacity ${CAPACITY}), ${PEOPLE} people, ${minutes} virtual minutes, seed ${seed}`);
  console.log(`  jobs done ${s.done}; simulated in ${(s.wallMs / 1000).toFixed(1)} s of real time`);
  console.log(`  Jain's fairness (GPU-seconds per person): all ${s.jainAll.toFixed(3)}; chat people ${s.jainChat.toFixed(3)}, image people ${s.jainImage.toFixed(3)}, mixed ${s.jainMixed.toFixed(3)}`);
  console.log(`  mean GPU-seconds per person: chat ${s.meanReceived.chat.toFixed(1)}, image ${s.meanReceived.image.toFixed(1)}, mixed ${s.meanReceived.mixed.toFixed(1)}`);
  console.log(`  placement efficiency (busy worker-time / available): ${(100 * s.efficiency).toFixed(1)}%; the dispatcher waited for room (head of line) ${(100 * s.blockedShare).toFixed(1)}% of the time`);
  console.log(`  per worker busy: ${s.perWorker.join(', ')}`);
}
