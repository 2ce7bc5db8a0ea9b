/**
 * bench/scheduler: hearth's fair scheduler vs FIFO on the same traces, through the real Engine and
 * SQLite store, with simulated GPU steps on a virtual clock (so the figures are exact and repeatable;
 * the scheduler's own cost per pick is measured in real time).
 *
 * Run: npx tsx bench/scheduler.ts
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { FifoScheduler } from '../src/engine/scheduler/fifo-scheduler.js';
import type { PickContext, SchedulerPolicy } from '../src/engine/scheduler/policy.js';
import { VirtualTimeScheduler } from '../src/engine/scheduler/virtual-time-scheduler.js';
import { simEngine } from '../test/helpers/sim-engine.js';

type PolicyName = 'hearth' | 'fifo';
const makePolicy = (name: PolicyName, lag = 30): SchedulerPolicy =>
  name === 'hearth' ? new VirtualTimeScheduler({ fairnessLagSeconds: lag }) : new FifoScheduler();

const IMAGE = { model: 'image', kind: 'image' as const, stepMs: 500 };
const CHAT = { model: 'chat', kind: 'chat' as const, stepMs: 100, maxBatch: 4 };

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** Light users' wait (submit → first step) while one user floods 30 images of 20 steps. */
async function floodTrace(name: PolicyName): Promise<{ p50: number; p95: number; n: number }> {
  const sim = await simEngine({ models: [IMAGE, CHAT], policy: makePolicy(name) });
  const { engine, clock } = sim;
  for (let i = 0; i < 30; i++) engine.submit({ kind: 'image', model: 'image', userId: 'flood', payload: { steps: 20 }, estimatedSteps: 20 });
  // 12 light users arrive about every 15 s (virtual), off step boundaries, each with a 10-step chat.
  const arrivals = Array.from({ length: 12 }, (_, i) => ({ at: clock.now() + 5_130 + i * 15_070, user: `light${i}` }));
  const submitted = new Map<string, number>();
  const waits: number[] = [];
  engine.on((e) => {
    if (e.event.type === 'progress' || e.event.type === 'token') {
      while (arrivals[0] && clock.now() >= arrivals[0].at) {
        const a = arrivals.shift()!;
        const r = engine.submit({ kind: 'chat', model: 'chat', userId: a.user, payload: { steps: 10 }, estimatedSteps: 10 });
        // It arrived at a.at, inside the step that just ended: count that remainder as waiting too.
        if (r.ok) submitted.set(r.value.id, a.at);
      }
    }
    if (e.event.type === 'started' && submitted.has(e.jobId)) waits.push((clock.now() - submitted.get(e.jobId)!) / 1000);
  });
  await engine.whenIdle();
  await sim.close();
  return { p50: percentile(waits, 50), p95: percentile(waits, 95), n: waits.length };
}

/** Three continuously backlogged users with step sizes 0.1, 0.5 and 1.5 s. */
async function backloggedTrace(name: PolicyName): Promise<{ maxGap: number; jain: number }> {
  const sim = await simEngine({ models: [IMAGE], policy: makePolicy(name) });
  const { engine, store } = sim;
  const users = [
    { id: 'a', stepMs: 100 },
    { id: 'b', stepMs: 500 },
    { id: 'c', stepMs: 1500 },
  ];
  for (let i = 0; i < 8; i++) for (const u of users) engine.submit({ kind: 'image', model: 'image', userId: u.id, payload: { steps: 10, stepMs: u.stepMs }, estimatedSteps: 10 });
  let maxGap = 0;
  let last: number[] = [];
  engine.on((e) => {
    if (e.event.type !== 'progress') return;
    if (!users.every((u) => store.countActive(u.id) > 0)) return;
    const got = users.map((u) => store.usageSince(u.id, 0));
    maxGap = Math.max(maxGap, Math.max(...got) - Math.min(...got));
    last = got;
  });
  await engine.whenIdle();
  await sim.close();
  const sum = last.reduce((a, b) => a + b, 0);
  const sq = last.reduce((a, b) => a + b * b, 0);
  return { maxGap, jain: (sum * sum) / (last.length * sq) };
}

/** Two users on two models that do not fit in VRAM together: how many swaps, and the wait it costs. */
async function swapTrace(name: PolicyName): Promise<{ swaps: number; makespan: number }> {
  const sim = await simEngine({
    models: [
      { ...IMAGE, vramBytes: 6e9, loadMs: 3000 },
      { ...CHAT, maxBatch: 1, vramBytes: 6e9, loadMs: 3000 },
    ],
    vramBudgetBytes: 8e9,
    policy: makePolicy(name),
  });
  const start = sim.clock.now();
  for (let i = 0; i < 10; i++) {
    sim.engine.submit({ kind: 'image', model: 'image', userId: 'painter', payload: { steps: 20 }, estimatedSteps: 20 });
    sim.engine.submit({ kind: 'chat', model: 'chat', userId: 'talker', payload: { steps: 30 }, estimatedSteps: 30 });
  }
  await sim.engine.whenIdle();
  const swaps = sim.engine.residency.swaps;
  const makespan = (sim.clock.now() - start) / 1000;
  await sim.close();
  return { swaps, makespan };
}

/** Real time per pick with 1,000 queued jobs from 100 users. */
function pickCost(name: PolicyName): number {
  const policy = makePolicy(name);
  for (let i = 0; i < 1000; i++) {
    policy.add({ id: `j${i}`, userId: `u${i % 100}`, model: i % 3 === 0 ? 'chat' : 'image', batchable: i % 3 === 0, weight: 1, seq: i, remainingSeconds: 10 });
  }
  const ctx: PickContext = { isResident: () => true, fitsWithoutSwap: () => true, maxBatch: (m) => (m === 'chat' ? 4 : 1), begun: () => [] };
  const rounds = 20_000;
  for (let i = 0; i < 2000; i++) policy.pick(ctx); // warm up
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) {
    const p = policy.pick(ctx);
    if (p) policy.charge(p.jobIds.map((id) => ({ userId: `u${Number(id.slice(1)) % 100}`, jobId: id, seconds: 0.001 })));
  }
  return ((performance.now() - t0) * 1000) / rounds;
}

export async function runSchedulerBench(): Promise<string> {
  const rows: string[] = [];
  const f = { hearth: await floodTrace('hearth'), fifo: await floodTrace('fifo') };
  const b = { hearth: await backloggedTrace('hearth'), fifo: await backloggedTrace('fifo') };
  const s = { hearth: await swapTrace('hearth'), fifo: await swapTrace('fifo') };
  const c = { hearth: pickCost('hearth'), fifo: pickCost('fifo') };
  const fmt = (n: number, d = 1): string => n.toFixed(d);
  rows.push('| measure (same trace for both) | hearth | FIFO | hearth / FIFO |');
  rows.push('|---|---:|---:|---:|');
  rows.push(`| light-user wait p50 during a 30-image flood (s) | ${fmt(f.hearth.p50)} | ${fmt(f.fifo.p50)} | ${fmt(f.hearth.p50 / f.fifo.p50, 3)} |`);
  rows.push(`| light-user wait p95 during the flood (s) | ${fmt(f.hearth.p95)} | ${fmt(f.fifo.p95)} | ${fmt(f.hearth.p95 / f.fifo.p95, 3)} |`);
  rows.push(`| max service gap between 3 backlogged users (GPU-s; largest step 1.5 s) | ${fmt(b.hearth.maxGap, 2)} | ${fmt(b.fifo.maxGap, 2)} | ${fmt(b.hearth.maxGap / b.fifo.maxGap, 3)} |`);
  rows.push(`| Jain's fairness index, backlogged users (1 = equal) | ${fmt(b.hearth.jain, 3)} | ${fmt(b.fifo.jain, 3)} | ${fmt(b.hearth.jain / b.fifo.jain, 3)} |`);
  rows.push(`| model swaps, 2 users on 2 models that don't fit together | ${s.hearth.swaps} | ${s.fifo.swaps} | ${fmt(s.hearth.swaps / Math.max(1, s.fifo.swaps), 3)} |`);
  rows.push(`| total time of that trace (s, 3 s per load) | ${fmt(s.hearth.makespan)} | ${fmt(s.fifo.makespan)} | ${fmt(s.hearth.makespan / s.fifo.makespan, 3)} |`);
  rows.push(`| scheduler cost per pick, 1,000 queued jobs / 100 users (µs, real time) | ${fmt(c.hearth, 2)} | ${fmt(c.fifo, 2)} | ${fmt(c.hearth / c.fifo, 2)} |`);
  return rows.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(await runSchedulerBench());
}
