import { afterEach, describe, expect, it } from 'vitest';
import { FifoScheduler } from '../../src/engine/scheduler/fifo-scheduler.js';
import type { SchedJob, SchedulerPolicy } from '../../src/engine/scheduler/policy.js';
import { VirtualTimeScheduler } from '../../src/engine/scheduler/virtual-time-scheduler.js';
import type { JobSpec } from '../../src/engine/types.js';
import { simEngine, type SimEngine } from '../helpers/sim-engine.js';

const IMAGE = { model: 'image', kind: 'image' as const, stepMs: 500 };
const CHAT = { model: 'chat', kind: 'chat' as const, stepMs: 100, maxBatch: 4 };
const SMALL = 100;
const LARGE = 700;

function image(userId: string, steps: number, stepMs?: number): JobSpec {
  return { kind: 'image', model: 'image', userId, payload: { steps, ...(stepMs ? { stepMs } : {}) }, estimatedSteps: steps };
}
function chat(userId: string, steps: number): JobSpec {
  return { kind: 'chat', model: 'chat', userId, payload: { steps }, estimatedSteps: steps };
}

let sim: SimEngine | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('fair scheduler on a virtual clock', () => {
  it('starts each newcomer chat within 2 steps while one user floods 20 images of 20 steps', async () => {
    sim = await simEngine({ models: [IMAGE, CHAT] });
    const waits = await newcomerWaits(sim);
    expect(waits).toHaveLength(3);
    for (const w of waits) expect(w).toBeLessThanOrEqual(2);
    // The three chats decoded together: one step carried all of them.
    const chatSteps = sim.stepLog.filter((s) => s.model === 'chat');
    expect(Math.max(...chatSteps.map((s) => s.jobIds.length))).toBe(3);
    // Everything finished.
    expect(sim.store.listJobs({ states: ['done'] })).toHaveLength(23);
  });

  it('keeps two backlogged users within 2x the largest step of GPU-seconds, whatever their step sizes', async () => {
    const { maxGap, checks } = await backloggedGap();
    expect(checks).toBeGreaterThan(50);
    expect(maxGap).toBeLessThanOrEqual((2 * LARGE) / 1000);
    expect(maxGap).toBeGreaterThan(0);
  });

  it('gives a user with weight 2 about twice the GPU time of a user with weight 1', async () => {
    const ratio = await weightRatio();
    expect(ratio).toBeGreaterThan(1.8);
    expect(ratio).toBeLessThan(2.2);
  });

  it('runs one user’s jobs in the order they were sent', async () => {
    sim = await simEngine({ models: [IMAGE] });
    const starts: string[] = [];
    sim.engine.on((e) => e.event.type === 'started' && starts.push(e.jobId));
    const ids = [1, 2, 3, 4].map(() => {
      const r = sim!.engine.submit(image('u', 2));
      if (!r.ok) throw new Error('refused');
      return r.value.id;
    });
    await sim.engine.whenIdle();
    expect(starts).toEqual(ids);
  });

  it('lifts a newcomer to the current minimum instead of letting it bank idle time', async () => {
    const real = await newcomerRun();
    // Measured while both users were backlogged (the late user's 15 s against the early user's last 10 s).
    expect(real.bothBacklogged).toBeGreaterThanOrEqual(20);
    expect(real.firstLate).toBeGreaterThan(0);
    expect(real.longestLateRun).toBeLessThanOrEqual(2);
  });

  it('the newcomer measure fails a scheduler that lets a newcomer bank idle time', async () => {
    const broken = await newcomerRun(new NoLiftScheduler());
    expect(broken.bothBacklogged).toBeGreaterThanOrEqual(20);
    // Started at zero while the early user had 20 GPU-seconds: the late user runs alone until it catches up.
    expect(broken.longestLateRun).toBeGreaterThan(2);
  });

  it('the two-user bound and the weight measure fail first-come-first-served', async () => {
    const fifoGap = await backloggedGap(new FifoScheduler());
    expect(fifoGap.checks).toBeGreaterThan(50);
    expect(fifoGap.maxGap).toBeGreaterThan((2 * LARGE) / 1000);
    const fifoRatio = await weightRatio(new FifoScheduler());
    expect(fifoRatio < 1.8 || fifoRatio > 2.2).toBe(true);
  });

  it('the newcomer-wait measure fails first-come-first-served', async () => {
    sim = await simEngine({ models: [IMAGE, CHAT], policy: new FifoScheduler() });
    const waits = await newcomerWaits(sim);
    expect(Math.max(...waits)).toBeGreaterThan(2);
  });
});

/**
 * A deliberately broken fair scheduler for checking the checks: a user who becomes backlogged starts
 * from zero instead of the current minimum, so idle time (or never having come) is banked.
 */
class NoLiftScheduler extends VirtualTimeScheduler {
  readonly #queued = new Map<string, number>();
  readonly #owner = new Map<string, string>();

  override add(job: SchedJob): void {
    const fresh = !this.#queued.has(job.userId);
    super.add(job);
    this.#owner.set(job.id, job.userId);
    this.#queued.set(job.userId, (this.#queued.get(job.userId) ?? 0) + 1);
    // restoreVirtualTimes normalises by the smallest value given: one entry always lands on zero.
    if (fresh) this.restoreVirtualTimes(new Map([[job.userId, 0]]));
  }

  override remove(jobId: string): void {
    super.remove(jobId);
    const userId = this.#owner.get(jobId);
    if (userId === undefined) return;
    this.#owner.delete(jobId);
    const left = (this.#queued.get(userId) ?? 1) - 1;
    if (left > 0) this.#queued.set(userId, left);
    else this.#queued.delete(userId);
  }
}

/** An early user sends 30 s of images; after 20 s a late user sends 15 s. Measured only while both are backlogged. */
async function newcomerRun(policy?: SchedulerPolicy): Promise<{ firstLate: number; longestLateRun: number; bothBacklogged: number }> {
  const s = await simEngine({ models: [IMAGE], ...(policy ? { policy } : {}) });
  try {
    const { engine, store } = s;
    for (let i = 0; i < 6; i++) engine.submit(image('early', 10));
    let late = false;
    let firstLate = -1;
    let steps = 0;
    let run = 0;
    let longestLateRun = 0;
    let bothBacklogged = 0;
    engine.on((e) => {
      if (e.event.type !== 'progress') return;
      steps++;
      if (late && store.countActive('early') > 0 && store.countActive('late') > 0) {
        bothBacklogged++;
        if (e.userId === 'late') {
          if (firstLate < 0) firstLate = steps;
          longestLateRun = Math.max(longestLateRun, ++run);
        } else run = 0;
      }
      if (!late && store.usageSince('early', 0) >= 20) {
        late = true;
        for (let i = 0; i < 3; i++) engine.submit(image('late', 10));
      }
    });
    await engine.whenIdle();
    return { firstLate, longestLateRun, bothBacklogged };
  } finally {
    await s.close();
  }
}

/** Two users backlogged with 10 images each, steps of 0.1 s and 0.7 s: the largest GPU-seconds gap seen while both wait. */
async function backloggedGap(policy?: SchedulerPolicy): Promise<{ maxGap: number; checks: number }> {
  const s = await simEngine({ models: [IMAGE], ...(policy ? { policy } : {}) });
  try {
    const { engine, store } = s;
    for (let i = 0; i < 10; i++) {
      engine.submit(image('small', 10, SMALL));
      engine.submit(image('large', 10, LARGE));
    }
    let maxGap = 0;
    let checks = 0;
    engine.on((e) => {
      if (e.event.type !== 'progress') return;
      const active = (u: string) => store.countActive(u) > 0;
      if (!active('small') || !active('large')) return;
      maxGap = Math.max(maxGap, Math.abs(store.usageSince('small', 0) - store.usageSince('large', 0)));
      checks++;
    });
    await engine.whenIdle();
    return { maxGap, checks };
  } finally {
    await s.close();
  }
}

/** GPU-seconds of a weight-2 user over a weight-1 user while both are backlogged. */
async function weightRatio(policy?: SchedulerPolicy): Promise<number> {
  const s = await simEngine({ models: [IMAGE], ...(policy ? { policy } : {}) });
  try {
    const { engine, store } = s;
    for (let i = 0; i < 10; i++) {
      engine.submit({ ...image('heavy', 10), weight: 2 });
      engine.submit(image('light', 10));
    }
    let ratio = 0;
    engine.on((e) => {
      if (e.event.type === 'progress' && store.countActive('heavy') > 0 && store.countActive('light') > 0) {
        const l = store.usageSince('light', 0);
        if (l > 5) ratio = store.usageSince('heavy', 0) / l;
      }
    });
    await engine.whenIdle();
    return ratio;
  } finally {
    await s.close();
  }
}

/** Steps each of three newcomer chats waited to start while one user floods 20 images. */
async function newcomerWaits(s: SimEngine): Promise<number[]> {
  const { engine } = s;
  for (let i = 0; i < 20; i++) engine.submit(image('alice', 20));
  const arrivedAt = new Map<string, number>();
  const startedAt = new Map<string, number>();
  let injected = false;
  engine.on((e) => {
    if (!injected && e.event.type === 'progress' && e.event.step === 5) {
      injected = true;
      for (const u of ['bob', 'carol', 'dave']) {
        const r = engine.submit(chat(u, 3));
        if (!r.ok) throw new Error(r.error.message);
        arrivedAt.set(r.value.id, engine.steps);
      }
    }
    if (e.event.type === 'started' && arrivedAt.has(e.jobId)) startedAt.set(e.jobId, engine.steps);
  });
  await engine.whenIdle();
  return [...arrivedAt].map(([id, at]) => (startedAt.get(id) ?? Infinity) - at);
}

describe('limits and cancel', () => {
  it('refuses a job over the per-user queue cap, naming the count and the limit', async () => {
    sim = await simEngine({ models: [IMAGE], maxQueuedPerUser: 3 });
    for (let i = 0; i < 3; i++) expect(sim.engine.submit(image('u', 5)).ok).toBe(true);
    const r = sim.engine.submit(image('u', 5));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe('QUEUE_FULL');
    expect(r.error.facts).toEqual({ given: 4, allowed: 3 });
    expect(r.error.message).toContain('limit is 3');
    // Another user is not affected, and an admin is not held to the cap.
    expect(sim.engine.submit(image('other', 5)).ok).toBe(true);
    expect(sim.engine.submit(image('u', 5), { admin: true }).ok).toBe(true);
  });

  it('refuses a job past the daily GPU-seconds limit', async () => {
    sim = await simEngine({ models: [IMAGE], dailyGpuSeconds: 4 });
    sim.engine.submit(image('u', 10)); // 10 steps x 0.5 s = 5 s
    await sim.engine.whenIdle();
    const r = sim.engine.submit(image('u', 1));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('DAILY_LIMIT');
      expect(r.error.facts).toEqual({ given: 5, allowed: 4 });
    }
  });

  it('refuses a job for a model that is not configured, listing the ones that are', async () => {
    sim = await simEngine({ models: [IMAGE] });
    const r = sim.engine.submit(chat('u', 3));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('MODEL_MISSING');
      expect(r.error.facts).toEqual({ given: 'chat', allowed: ['image'] });
    }
  });

  it('cancels a queued job: it never starts, and ends as cancelled', async () => {
    sim = await simEngine({ models: [IMAGE] });
    const first = sim.engine.submit(image('u', 5));
    const second = sim.engine.submit(image('u', 5));
    if (!first.ok || !second.ok) throw new Error('refused');
    const c = sim.engine.cancel(second.value.id, { userId: 'u' });
    expect(c.ok).toBe(true);
    await sim.engine.whenIdle();
    expect(sim.store.getJob(second.value.id)?.state).toBe('cancelled');
    expect(sim.events.some((e) => e.jobId === second.value.id && e.event.type === 'started')).toBe(false);
    expect(sim.events.find((e) => e.jobId === second.value.id && e.event.type === 'cancelled')).toBeDefined();
    expect(sim.store.getJob(first.value.id)?.state).toBe('done');
  });

  it('cancels a running chat: the runner sees the abort and the partial answer is kept', async () => {
    sim = await simEngine({ models: [CHAT] });
    const r = sim.engine.submit(chat('u', 10));
    if (!r.ok) throw new Error('refused');
    const id = r.value.id;
    let tokens = 0;
    sim.engine.on((e) => {
      if (e.jobId === id && e.event.type === 'token' && ++tokens === 3) {
        expect(sim!.engine.cancel(id, { userId: 'u' }).ok).toBe(true);
      }
    });
    await sim.engine.whenIdle();
    const job = sim.store.getJob(id)!;
    expect(job.state).toBe('cancelled');
    expect(job.result?.text).toBe('t1 t2 t3 ');
    expect(job.result?.stopped).toBe(true);
    expect(sim.abortedSteps.some((ids) => ids.includes(id))).toBe(true);
    // A new job runs fine afterwards.
    const again = sim.engine.submit(chat('u', 2));
    await sim.engine.whenIdle();
    if (again.ok) expect(sim.store.getJob(again.value.id)?.state).toBe('done');
  });

  it('lets only the owner or an admin cancel a job', async () => {
    sim = await simEngine({ models: [IMAGE] });
    sim.engine.submit(image('owner', 5));
    const r = sim.engine.submit(image('owner', 5));
    if (!r.ok) throw new Error('refused');
    const denied = sim.engine.cancel(r.value.id, { userId: 'stranger' });
    expect(denied.ok).toBe(false);
    if (!denied.ok) expect(denied.error.code).toBe('FORBIDDEN');
    expect(sim.engine.cancel(r.value.id, { userId: 'mod', admin: true }).ok).toBe(true);
    const gone = sim.engine.cancel(r.value.id, { userId: 'owner' });
    expect(gone.ok).toBe(false);
    // An ended job is a known state, not a missing one: its own code, saying how it ended.
    if (!gone.ok) expect(gone.error).toMatchObject({ code: 'ALREADY_ENDED', facts: { jobId: r.value.id, kind: 'image', state: 'cancelled' } });
    const unknown = sim.engine.cancel('no-such-job', { userId: 'owner' });
    if (!unknown.ok) expect(unknown.error.code).toBe('NOT_FOUND');
    expect(unknown.ok).toBe(false);
  });

  it('fails a job whose input the runner refuses, with the runner’s code', async () => {
    sim = await simEngine({ models: [IMAGE] });
    const r = sim.engine.submit({ ...image('u', 3), payload: { steps: 3, invalid: true } });
    if (!r.ok) throw new Error('refused');
    await sim.engine.whenIdle();
    const failed = sim.events.find((e) => e.jobId === r.value.id && e.event.type === 'failed');
    expect(failed?.event.type === 'failed' && failed.event.error.code).toBe('INVALID_INPUT');
  });
});

describe('queue positions and residency', () => {
  it('publishes a position and an ETA for every queued job, and updates them as the queue moves', async () => {
    sim = await simEngine({ models: [IMAGE] });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = sim.engine.submit(image('u', 4));
      if (r.ok) ids.push(r.value.id);
    }
    await sim.engine.whenIdle();
    const queued = (id: string) =>
      sim!.events.filter((e) => e.jobId === id && e.event.type === 'queued').map((e) => (e.event.type === 'queued' ? e.event : null));
    const last = queued(ids[2]!);
    expect(last.length).toBeGreaterThanOrEqual(2);
    expect(last[0]!.position).toBeGreaterThan(last[last.length - 1]!.position);
    expect(last[0]!.etaSeconds).toBeGreaterThan(0);
  });

  it('swaps models less often when it may prefer the loaded model within the fairness lag', async () => {
    const run = async (lag: number) => {
      const s = await simEngine({
        models: [
          { ...IMAGE, vramBytes: 6e9 },
          { ...CHAT, maxBatch: 1, vramBytes: 6e9 },
        ],
        vramBudgetBytes: 8e9,
        policy: new VirtualTimeScheduler({ fairnessLagSeconds: lag }),
      });
      for (let i = 0; i < 6; i++) {
        s.engine.submit(image('painter', 8));
        s.engine.submit(chat('talker', 20));
      }
      await s.engine.whenIdle();
      const swaps = s.engine.residency.swaps;
      await s.close();
      return swaps;
    };
    const eager = await run(0);
    const lagged = await run(30);
    expect(lagged).toBeLessThan(eager);
    expect(lagged).toBeGreaterThan(0);
  });
});
