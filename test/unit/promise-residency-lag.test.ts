/**
 * README, "How sharing works" → Residency: "models that fit the VRAM budget together stay loaded; when
 * they don't, hearth prefers work for the loaded model as long as no user falls more than
 * `models.fairnessLagSeconds` behind."
 *
 * On a virtual clock, with simulated runners whose VRAM sizes don't fit together (6 GB + 6 GB in an
 * 8 GB budget): a painter (images) and a talker (chats) both stay backlogged, and at every step the
 * gap between their GPU-seconds is measured. The bound is the lag plus one step (the step that was
 * picked while still inside the lag). The same measure run on a scheduler that ignores the lag
 * (an unbounded lag) must break the bound, so the check can fail.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualTimeScheduler } from '../../src/engine/scheduler/virtual-time-scheduler.js';
import type { JobSpec } from '../../src/engine/types.js';
import { simEngine, type SimEngine } from '../helpers/sim-engine.js';

const IMAGE_STEP_S = 0.5;
const CHAT_STEP_S = 0.1;
const IMAGE = { model: 'image', kind: 'image' as const, stepMs: IMAGE_STEP_S * 1000, vramBytes: 6e9, loadMs: 200 };
const CHAT = { model: 'chat', kind: 'chat' as const, stepMs: CHAT_STEP_S * 1000, maxBatch: 1, vramBytes: 6e9, loadMs: 200 };
const LARGEST_STEP_S = Math.max(IMAGE_STEP_S, CHAT_STEP_S);

const image = (userId: string, steps: number): JobSpec => ({ kind: 'image', model: 'image', userId, payload: { steps }, estimatedSteps: steps });
const chat = (userId: string, steps: number): JobSpec => ({ kind: 'chat', model: 'chat', userId, payload: { steps }, estimatedSteps: steps });

interface LagRun {
  /** Largest GPU-seconds gap between the two users seen while both were backlogged. */
  maxGap: number;
  /** Steps measured while both were backlogged. */
  checks: number;
  swaps: number;
  /** Steps that ran for a user who was not the most behind (residency preferred over strict fairness). */
  aheadSteps: number;
}

let open: SimEngine | undefined;
afterEach(async () => {
  await open?.close();
  open = undefined;
});

async function lagRun(lagSeconds: number): Promise<LagRun> {
  const s = await simEngine({ models: [IMAGE, CHAT], vramBudgetBytes: 8e9, policy: new VirtualTimeScheduler({ fairnessLagSeconds: lagSeconds }) });
  open = s;
  expect(s.engine.residency.fitTogether(['image', 'chat'])).toBe(false);
  // About 60 GPU-seconds each, all queued at once: both stay backlogged for most of the run.
  for (let i = 0; i < 12; i++) s.engine.submit(image('painter', 10));
  for (let i = 0; i < 30; i++) s.engine.submit(chat('talker', 20));
  const used = (u: string): number => s.store.usageSince(u, 0);
  const backlogged = (u: string): boolean => s.store.countActive(u) > 0;
  let maxGap = 0;
  let checks = 0;
  let aheadSteps = 0;
  let before = { painter: 0, talker: 0 };
  s.engine.on((e) => {
    // One GPU step ended: a simulated image reports progress, a simulated chat (batch of one) a token.
    if (e.event.type !== 'progress' && e.event.type !== 'token') return;
    if (!backlogged('painter') || !backlogged('talker')) return;
    // Who was behind when this step was picked (before it was charged).
    const behind = before.painter <= before.talker ? 'painter' : 'talker';
    if (e.userId !== behind && Math.abs(before.painter - before.talker) > LARGEST_STEP_S) aheadSteps++;
    before = { painter: used('painter'), talker: used('talker') };
    maxGap = Math.max(maxGap, Math.abs(before.painter - before.talker));
    checks++;
  });
  await s.engine.whenIdle();
  const swaps = s.engine.residency.swaps;
  await s.close();
  open = undefined;
  return { maxGap, checks, swaps, aheadSteps };
}

describe('residency: the loaded model is preferred only within models.fairnessLagSeconds', () => {
  for (const lag of [2, 5, 12]) {
    it(`no backlogged user falls more than the lag (${lag} s) plus one step behind`, async () => {
      const run = await lagRun(lag);
      expect(run.checks).toBeGreaterThan(100);
      expect(run.maxGap).toBeLessThanOrEqual(lag + LARGEST_STEP_S + 1e-9);
      // The lag was really used: someone ran ahead while the other waited for a swap.
      expect(run.maxGap).toBeGreaterThan(lag * 0.5);
      expect(run.aheadSteps).toBeGreaterThan(0);
      expect(run.swaps).toBeGreaterThan(0);
    });
  }

  it('a longer lag buys fewer swaps (what the unfairness is traded for)', async () => {
    const short = await lagRun(2);
    const long = await lagRun(12);
    expect(long.swaps).toBeLessThan(short.swaps);
  });

  it('the bound fails a scheduler that prefers the loaded model without a lag', async () => {
    // An unbounded lag: the loaded model's user runs as long as it has work; the other falls far behind.
    const broken = await lagRun(Number.POSITIVE_INFINITY);
    expect(broken.checks).toBeGreaterThan(20);
    expect(broken.maxGap).toBeGreaterThan(12 + LARGEST_STEP_S);
  });
});
