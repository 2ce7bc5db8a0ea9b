import { afterEach, describe, expect, it } from 'vitest';
import type { Readiness } from '../../src/engine/job-feed.js';
import type { JobEvent, JobSpec } from '../../src/engine/types.js';
import { simEngine, type SimEngine } from '../helpers/sim-engine.js';

const IMAGE = { model: 'image', kind: 'image' as const, stepMs: 500 };
const CHAT = { model: 'chat', kind: 'chat' as const, stepMs: 100, maxBatch: 4 };

function image(userId: string, steps: number): JobSpec {
  return { kind: 'image', model: 'image', userId, payload: { steps }, estimatedSteps: steps };
}

/** A worker that is still coming up: describe waits until `release` is called. */
function gate(): { promise: Promise<void>; release: () => void } {
  let release = (): void => {};
  const promise = new Promise<void>((r) => (release = r));
  return { promise, release };
}

let sim: SimEngine | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

function eventsOf(s: SimEngine, jobId: string): JobEvent[] {
  return s.events.filter((e) => e.jobId === jobId).map((e) => e.event);
}

describe('an engine that is still starting', () => {
  it('stores a job for a declared model, tells its owner it waits for hearth to start, and runs it once ready', async () => {
    const g = gate();
    sim = await simEngine({
      models: [IMAGE, CHAT],
      declaredModels: [
        { model: 'image', kind: 'image' },
        { model: 'chat', kind: 'chat' },
      ],
      describeGate: g.promise,
    });
    const readiness: Readiness[] = [];
    sim.engine.onReadiness((r) => readiness.push(r));
    expect(sim.engine.readiness()).toBe('starting');
    expect(sim.engine.models()).toEqual([]);

    const first = sim.engine.submit(image('ann', 2));
    const second = sim.engine.submit({ kind: 'chat', model: 'chat', userId: 'ben', payload: { steps: 2 }, estimatedSteps: 2 });
    if (!first.ok || !second.ok) throw new Error('refused while starting');
    // Durable before the owner is told, like any job.
    expect(sim.store.getJob(first.value.id)?.state).toBe('queued');
    expect(eventsOf(sim, first.value.id)).toEqual([{ type: 'queued', position: 0, etaSeconds: 0, starting: true }]);
    expect(eventsOf(sim, second.value.id)).toEqual([{ type: 'queued', position: 1, etaSeconds: 0, starting: true }]);
    expect(sim.engine.steps).toBe(0);

    g.release();
    await sim.started;
    expect(sim.engine.readiness()).toBe('ready');
    expect(readiness).toEqual(['ready']);
    await sim.engine.whenIdle();

    for (const id of [first.value.id, second.value.id]) {
      const events = eventsOf(sim, id);
      // Once ready, every waiting job hears its place again, without `starting`.
      const requeued = events.filter((e) => e.type === 'queued').slice(1);
      expect(requeued.length).toBeGreaterThanOrEqual(1);
      for (const e of requeued) expect(e).not.toHaveProperty('starting');
      expect(events.at(-1)?.type).toBe('result');
      expect(sim.store.getJob(id)?.state).toBe('done');
    }
  });

  it('refuses a model the config does not name as not set up, listing the declared ones', async () => {
    const g = gate();
    sim = await simEngine({ models: [IMAGE], declaredModels: [{ model: 'image', kind: 'image' }], describeGate: g.promise });
    const r = sim.engine.submit({ kind: 'caption', model: 'caption', userId: 'u', payload: { steps: 1 } });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatchObject({ code: 'MODEL_MISSING', facts: { given: 'caption', allowed: ['image'] } });
    expect(sim.store.listJobs()).toEqual([]);
    g.release();
    await sim.started;
  });

  it('fails the waiting jobs of a declared model the worker turns out not to serve, with MODEL_MISSING', async () => {
    const g = gate();
    sim = await simEngine({
      models: [IMAGE],
      declaredModels: [
        { model: 'image', kind: 'image' },
        { model: 'caption', kind: 'caption' },
      ],
      describeGate: g.promise,
    });
    const caption = sim.engine.submit({ kind: 'caption', model: 'caption', userId: 'u', payload: { steps: 1 } });
    const img = sim.engine.submit(image('u', 1));
    if (!caption.ok || !img.ok) throw new Error('refused while starting');
    g.release();
    await sim.started;
    await sim.engine.whenIdle();
    expect(eventsOf(sim, caption.value.id).at(-1)).toEqual({
      type: 'failed',
      error: expect.objectContaining({ code: 'MODEL_MISSING', facts: { given: 'caption', allowed: ['image'] } }),
    });
    expect(sim.store.getJob(caption.value.id)?.state).toBe('failed');
    expect(sim.store.getJob(img.value.id)?.state).toBe('done');
    // Once ready, the served list is what counts.
    const late = sim.engine.submit({ kind: 'caption', model: 'caption', userId: 'u', payload: { steps: 1 } });
    expect(late.ok ? null : late.error.code).toBe('MODEL_MISSING');
  });

  it('lets the owner cancel a job that waits for hearth to start, and never runs it', async () => {
    const g = gate();
    sim = await simEngine({ models: [IMAGE], declaredModels: [{ model: 'image', kind: 'image' }], describeGate: g.promise });
    const r = sim.engine.submit(image('u', 3));
    if (!r.ok) throw new Error('refused');
    expect(sim.engine.updateOrigin(r.value.id, { channel: 'c1' }).ok).toBe(true);
    expect(sim.engine.getJob(r.value.id)?.origin).toEqual({ channel: 'c1' });
    expect(sim.engine.cancel(r.value.id, { userId: 'u' }).ok).toBe(true);
    g.release();
    await sim.started;
    await sim.engine.whenIdle();
    expect(sim.engine.steps).toBe(0);
    expect(sim.store.getJob(r.value.id)?.state).toBe('cancelled');
  });

  it('reports stopping once closed, and refuses new jobs', async () => {
    sim = await simEngine({ models: [IMAGE] });
    const seen: Readiness[] = [];
    sim.engine.onReadiness((r) => seen.push(r));
    expect(sim.engine.readiness()).toBe('ready');
    await sim.engine.close();
    expect(seen).toEqual(['stopping']);
    expect(sim.engine.readiness()).toBe('stopping');
    const r = sim.engine.submit(image('u', 1));
    expect(r.ok ? null : r.error.code).toBe('SHUTTING_DOWN');
  });
});
