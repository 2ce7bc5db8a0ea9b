import { afterEach, describe, expect, it } from 'vitest';
import type { JobFeed } from '../../src/engine/job-feed.js';
import { simEngine, type SimEngine } from '../helpers/sim-engine.js';

let sim: SimEngine | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('steps as the engine counts them', () => {
  it('counts the steps of a runner that reports no progress, and takes them from one that does', async () => {
    sim = await simEngine({
      models: [
        { model: 'chat', kind: 'chat', stepMs: 100 },
        { model: 'image', kind: 'image', stepMs: 100 },
      ],
    });
    const { engine } = sim;
    const seen: Array<[string, number, number]> = [];
    engine.on((e) => {
      // Tokens stream inside a chat step (no progress event): the steps done so far are the ones before it.
      // An image runner reports progress at the end of each step.
      if (e.event.type === 'token' || e.event.type === 'progress') {
        const running = engine.snapshot().running.find((r) => r.jobId === e.jobId);
        if (running) seen.push([running.kind, running.step, running.of]);
      }
    });
    const chat = engine.submit({ kind: 'chat', model: 'chat', userId: 'a', payload: { steps: 3 } });
    if (!chat.ok) throw new Error(chat.error.message);
    await engine.whenIdle();
    const image = engine.submit({ kind: 'image', model: 'image', userId: 'b', payload: { steps: 3 } });
    if (!image.ok) throw new Error(image.error.message);
    await engine.whenIdle();
    expect(seen).toEqual([
      ['chat', 0, 3],
      ['chat', 1, 3],
      ['chat', 2, 3],
      ['image', 1, 3],
      ['image', 2, 3],
      ['image', 3, 3],
    ]);
  });

  it('serves adapters through the narrow JobFeed: events, a job, its origin, readiness', async () => {
    sim = await simEngine({ models: [{ model: 'image', kind: 'image', stepMs: 10 }] });
    const feed: JobFeed = sim.engine;
    const types: string[] = [];
    const off = feed.subscribe((e) => types.push(e.event.type));
    expect(feed.readiness()).toBe('ready');
    const r = sim.engine.submit({ kind: 'image', model: 'image', userId: 'u', payload: { steps: 2 } });
    if (!r.ok) throw new Error(r.error.message);
    expect(feed.updateOrigin(r.value.id, { channel: 'c', followUps: ['m1'] }).ok).toBe(true);
    await sim.engine.whenIdle();
    off();
    expect(types).toEqual(['queued', 'started', 'progress', 'progress', 'result']);
    expect(feed.getJob(r.value.id)).toMatchObject({ state: 'done', origin: { channel: 'c', followUps: ['m1'] } });
    // Ended: still written until its end is delivered (see engine-origin-after-end.test.ts), then refused.
    expect(feed.markDelivered(r.value.id).ok).toBe(true);
    expect(feed.updateOrigin(r.value.id, {}).ok).toBe(false);
  });
});
