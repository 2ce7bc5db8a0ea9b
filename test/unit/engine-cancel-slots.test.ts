/**
 * A cancelled job gives back the runner state it holds (a chat runner's only sequence) before the next
 * job of its model begins, wherever the cancel lands relative to the step: during it, just after it
 * returned, between steps. The simulated runner refuses a begin while its one slot is held, as the chat
 * runner does; the cancel is sent a varying number of microtask turns after a token of the first job,
 * so it falls in every gap of the dispatcher's step, including the one between the step's outputs and
 * the end of the step (found under a CPU hog: "all 1 sequences of chat are in use").
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { JobEvent } from '../../src/engine/types.js';
import { simEngine, type SimEngine } from '../helpers/sim-engine.js';

let sim: SimEngine | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function lastEvent(s: SimEngine, jobId: string): Promise<JobEvent | undefined> {
  let last: JobEvent | undefined;
  for await (const e of s.engine.watch(jobId)) last = e;
  return last;
}

describe('cancelling a job that holds the only runner slot', () => {
  it('frees the slot before the next job begins, wherever the cancel lands (0–60 microtask turns after a token)', async () => {
    const outcomes: string[] = [];
    for (let turns = 0; turns <= 60; turns++) {
      const s = (sim = await simEngine({ models: [{ model: 'chat', kind: 'chat', stepMs: 100, maxBatch: 1, slots: 1 }] }));
      const first = s.engine.submit({ kind: 'chat', model: 'chat', userId: 'ann', payload: { steps: 200, token: 'a' }, estimatedSteps: 200 });
      if (!first.ok) throw new Error(first.error.message);
      const second = new Promise<string>((resolve, reject) => {
        const off = s.engine.on((e) => {
          if (e.jobId !== first.value.id || e.event.type !== 'token') return;
          off();
          void (async () => {
            for (let i = 0; i < turns; i++) await Promise.resolve();
            const c = s.engine.cancel(first.value.id, { userId: 'ann' });
            if (!c.ok) throw new Error(`cancel refused: ${c.error.message}`);
            const next = s.engine.submit({ kind: 'chat', model: 'chat', userId: 'ben', payload: { steps: 2, token: 'b' }, estimatedSteps: 2 });
            if (!next.ok) throw new Error(next.error.message);
            return next.value.id;
          })().then(resolve, reject);
        });
      });
      const secondId = await second;
      const last = await lastEvent(s, secondId);
      outcomes.push(`${turns}: ${last?.type === 'failed' ? last.error.message : last?.type}`);
      await s.engine.whenIdle();
      expect(s.engine.getJob(first.value.id)?.state).toBe('cancelled');
      expect(s.runners.get('chat')?.held.size, `turns ${turns}`).toBe(0);
      await s.close();
      sim = undefined;
    }
    expect(outcomes.filter((o) => !o.endsWith(': result'))).toEqual([]);
  });
});
