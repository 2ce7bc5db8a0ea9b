import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { StepOutput } from '../../src/engine/runner.js';
import { SimGate, SimRunner } from '../fixtures/sim-runner.js';

function runner(gate?: SimGate): SimRunner {
  const sleep = async (ms: number, signal?: AbortSignal) => {
    await delay(ms, undefined, signal ? { signal } : {});
  };
  return new SimRunner({ model: 'image', kind: 'image', stepMs: 1 }, { sleep, ...(gate ? { gate } : {}) });
}

async function run(r: SimRunner, id: string, steps: number, signal?: AbortSignal): Promise<number> {
  await r.begin({ id, payload: { steps, prompt: id } } as never);
  let n = 0;
  for (;;) {
    const out: StepOutput[] = await r.step([id], { emit: () => {}, ...(signal ? { signal } : {}) });
    n++;
    if (out[0]?.done) return n;
  }
}

describe('SimGate: jobs that wait for the test', () => {
  it('changes nothing without a hold', async () => {
    const gate = new SimGate();
    const r = runner(gate);
    await r.load();
    expect(await run(r, 'a', 5)).toBe(5);
  });

  it('holds a matching job before the step asked for, until released; others run on', async () => {
    const gate = new SimGate();
    const r = runner(gate);
    await r.load();
    const held = gate.hold((s) => s.payload !== null && (s.payload as { prompt?: string }).prompt === 'slow' && s.step === 3);
    const steps: number[] = [];
    const slow = (async () => {
      await r.begin({ id: 'slow', payload: { steps: 5, prompt: 'slow' } } as never);
      for (let i = 1; i <= 5; i++) {
        await r.step(['slow'], { emit: (_id, ev) => ev.type === 'progress' && steps.push(ev.step) });
      }
    })();
    const reached = await held.reached;
    expect(reached).toMatchObject({ model: 'image', jobId: 'slow', step: 3, of: 5 });
    expect(held.holding).toBe(true);
    // Two steps ran; it stays there however long the test takes.
    await delay(30);
    expect(steps).toEqual([1, 2]);
    expect(await run(r, 'other', 3)).toBe(3);
    held.release();
    await slow;
    expect(steps).toEqual([1, 2, 3, 4, 5]);
    expect(held.holding).toBe(false);
  });

  it('a held step that is aborted ends with the abort, as a sleeping step does', async () => {
    const gate = new SimGate();
    const r = runner(gate);
    await r.load();
    const held = gate.hold((s) => s.step === 2);
    const ac = new AbortController();
    const job = run(r, 'cancelled', 4, ac.signal);
    await held.reached;
    ac.abort();
    await expect(job).rejects.toThrow(/abort/i);
    expect(held.holding).toBe(false);
  });

  it('releaseAll lets every held job go', async () => {
    const gate = new SimGate();
    const r = runner(gate);
    await r.load();
    const held = gate.hold(() => true);
    const job = run(r, 'x', 2);
    await held.reached;
    gate.releaseAll();
    expect(await job).toBe(2);
  });
});
