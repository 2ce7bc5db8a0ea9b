/**
 * The daily GPU budget holds for jobs that were queued while it lasted: it is checked again before
 * each job begins, not only when it is submitted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { JobSpec } from '../../src/engine/types.js';
import { simEngine, type SimEngine } from '../helpers/sim-engine.js';

const IMAGE = { model: 'image', kind: 'image' as const, stepMs: 500 };

function image(userId: string, steps: number): JobSpec {
  return { kind: 'image', model: 'image', userId, payload: { steps }, estimatedSteps: steps };
}

let sim: SimEngine | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('the daily GPU-seconds limit when a job starts', () => {
  it('does not start a queued job once its owner has used up the day, and tells the owner why', async () => {
    sim = await simEngine({ models: [IMAGE], dailyGpuSeconds: 4 });
    // Each job is 10 steps × 0.5 s = 5 s; all three are accepted while nothing has been used yet.
    const ids = [1, 2, 3].map(() => {
      const r = sim!.engine.submit(image('u', 10));
      if (!r.ok) throw new Error(`refused: ${r.error.message}`);
      return r.value.id;
    });
    await sim.engine.whenIdle();

    const [first, ...rest] = ids.map((id) => sim!.store.getJob(id)!);
    expect(first!.state).toBe('done');
    for (const job of rest) {
      expect(job.state).toBe('failed');
      expect(job.attempts).toBe(0);
      expect(job.error).toMatchObject({ code: 'DAILY_LIMIT', facts: { given: 5, allowed: 4 } });
      expect(job.error?.message).toMatch(/not started/);
      // The owner is told: a `failed` event, and never a `started` one.
      const events = sim.events.filter((e) => e.jobId === job.id).map((e) => e.event.type);
      expect(events).toContain('failed');
      expect(events).not.toContain('started');
    }
    // The day's usage went over the limit by at most the one job that started within it.
    expect(sim.store.usageSince('u', 0)).toBe(5);
  });

  it('lets an admin’s queued jobs run past it, as at submit (the job remembers who submitted it)', async () => {
    sim = await simEngine({ models: [IMAGE], dailyGpuSeconds: 4 });
    const ids = [1, 2].map(() => {
      const r = sim!.engine.submit(image('boss', 10), { admin: true });
      if (!r.ok) throw new Error('refused');
      return r.value.id;
    });
    // Another user's queue is checked on its own.
    const other = sim.engine.submit(image('v', 2));
    await sim.engine.whenIdle();
    for (const id of ids) expect(sim.store.getJob(id)).toMatchObject({ state: 'done', admin: true });
    expect(other.ok && sim.store.getJob(other.value.id)?.state).toBe('done');
    expect(sim.store.usageSince('boss', 0)).toBe(10);
  });
});
