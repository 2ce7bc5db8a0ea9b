import { describe, expect, it } from 'vitest';
import { ChunkBudget } from '../../src/runners/llm/chunk-budget.js';

/** A clock the test moves by hand. */
function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

/** Runs one step of `tokens` prompt tokens that takes `ms` on the fake clock. */
function step(budget: ChunkBudget, clock: ReturnType<typeof fakeClock>, tokens: number, ms: number): void {
  const done = budget.startStep();
  clock.advance(ms);
  done(tokens);
}

describe('ChunkBudget (prompt tokens per step from measured speed)', () => {
  it('uses the config bound before anything was measured', () => {
    const clock = fakeClock();
    expect(new ChunkBudget({ maxStepMs: 100, maxTokens: 512, now: clock.now }).tokens()).toBe(512);
    expect(new ChunkBudget({ maxStepMs: 100, maxTokens: 512, now: clock.now }).tokensPerSecond()).toBeUndefined();
  });

  it('sizes a step to last about maxStepMs at the measured speed', () => {
    const clock = fakeClock();
    const budget = new ChunkBudget({ maxStepMs: 100, maxTokens: 4096, now: clock.now, smoothing: 1 });
    step(budget, clock, 512, 400); // 1.28 tokens/ms
    expect(budget.tokensPerSecond()).toBeCloseTo(1280);
    expect(budget.tokens()).toBe(128);
    step(budget, clock, 128, 50); // 2.56 tokens/ms
    expect(budget.tokens()).toBe(256);
  });

  it('never goes above the config bound nor below the floor', () => {
    const clock = fakeClock();
    const budget = new ChunkBudget({ maxStepMs: 100, maxTokens: 300, minTokens: 20, now: clock.now, smoothing: 1 });
    step(budget, clock, 300, 1); // very fast: 30,000 tokens per step would fit
    expect(budget.tokens()).toBe(300);
    step(budget, clock, 300, 60_000); // very slow: half a token per step
    expect(budget.tokens()).toBe(20);
    const tinyBound = new ChunkBudget({ maxStepMs: 100, maxTokens: 8, minTokens: 20, now: clock.now });
    step(tinyBound, clock, 8, 60_000);
    expect(tinyBound.tokens()).toBe(8);
  });

  it('averages over recent steps and ignores steps without prompt tokens', () => {
    const clock = fakeClock();
    const budget = new ChunkBudget({ maxStepMs: 100, maxTokens: 4096, now: clock.now, smoothing: 0.5 });
    step(budget, clock, 100, 100); // 1 token/ms
    step(budget, clock, 300, 100); // 3 tokens/ms → average 2
    expect(budget.tokens()).toBe(200);
    step(budget, clock, 0, 5_000); // decode only
    expect(budget.tokens()).toBe(200);
  });

  it('adapts when the machine slows down and speeds up again', () => {
    const clock = fakeClock();
    const budget = new ChunkBudget({ maxStepMs: 100, maxTokens: 1024, now: clock.now });
    const sizes: number[] = [];
    // 4 tokens/ms, then a load makes it 0.5 tokens/ms, then 4 again.
    for (const speed of [4, 4, 4, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 4, 4, 4, 4, 4, 4, 4, 4]) {
      const tokens = budget.tokens();
      sizes.push(tokens);
      step(budget, clock, tokens, tokens / speed);
    }
    expect(sizes[3]).toBe(400);
    expect(sizes[10]).toBeLessThan(100); // close to 50 under load
    expect(sizes[10]).toBeGreaterThanOrEqual(50);
    expect(sizes.at(-1)).toBeGreaterThan(350);
  });
});
