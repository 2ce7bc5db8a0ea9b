/**
 * Where a job's answer goes (its origin) may still be written after the job ended, until its end is
 * delivered: an adapter's final render can need one more message than the answer had while it ran,
 * and records that it is posting it (and then its id) first, so a kill -9 in that round trip leaves
 * nothing the restart's re-delivered end cannot find. Once delivered, and for an unknown job, the
 * engine refuses with a code that says why.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { simEngine, type SimEngine } from '../helpers/sim-engine.js';

let sim: SimEngine | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('updateOrigin after a job ended', () => {
  it('is accepted until the end is delivered, then refused as ALREADY_ENDED naming the delivery; unknown jobs are NOT_FOUND', async () => {
    const s = (sim = await simEngine({ models: [{ model: 'chat', kind: 'chat', stepMs: 10 }] }));
    const r = s.engine.submit({ kind: 'chat', model: 'chat', userId: 'ann', payload: { steps: 2 }, origin: { to: 'here' } });
    if (!r.ok) throw new Error(r.error.message);
    const id = r.value.id;

    // While it runs: as before.
    expect(s.engine.updateOrigin(id, { to: 'here', posted: ['a'] })).toMatchObject({ ok: true, value: { origin: { to: 'here', posted: ['a'] } } });
    await s.engine.whenIdle();
    const ended = s.engine.getJob(id);
    expect(ended).toMatchObject({ state: 'done', deliveredAt: null });

    // Ended, end not delivered yet: the final render's intent and the message it made are kept, durably.
    const during = s.engine.updateOrigin(id, { to: 'here', posted: ['a'], posting: 'after-a' });
    expect(during).toMatchObject({ ok: true, value: { state: 'done', origin: { posting: 'after-a' } } });
    expect(s.engine.updateOrigin(id, { to: 'here', posted: ['a', 'b'] }).ok).toBe(true);
    expect(s.store.getJob(id)?.origin).toEqual({ to: 'here', posted: ['a', 'b'] });

    // Delivered: nothing of it is shown again, so its origin no longer changes.
    expect(s.engine.markDelivered(id).ok).toBe(true);
    const deliveredAt = s.store.getJob(id)?.deliveredAt;
    expect(deliveredAt).toEqual(expect.any(Number));
    const after = s.engine.updateOrigin(id, { to: 'elsewhere' });
    expect(after).toMatchObject({
      ok: false,
      error: { code: 'ALREADY_ENDED', message: expect.stringContaining('delivered'), facts: { jobId: id, kind: 'chat', state: 'done', deliveredAt } },
    });
    expect(s.store.getJob(id)?.origin).toEqual({ to: 'here', posted: ['a', 'b'] });

    expect(s.engine.updateOrigin('no-such-job', { to: 'here' })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND', facts: { given: 'no-such-job' } } });
  });

  it('keeps a cancelled job writable until delivered too, and the store itself refuses a delivered one', async () => {
    const s = (sim = await simEngine({ models: [{ model: 'chat', kind: 'chat', stepMs: 10 }] }));
    const r = s.engine.submit({ kind: 'chat', model: 'chat', userId: 'ann', payload: { steps: 500 }, origin: { to: 'here' } });
    if (!r.ok) throw new Error(r.error.message);
    const c = s.engine.cancel(r.value.id, { userId: 'ann' });
    expect(c.ok).toBe(true);
    expect(s.engine.updateOrigin(r.value.id, { to: 'here', posting: 'x' })).toMatchObject({ ok: true, value: { state: 'cancelled' } });
    expect(s.engine.markDelivered(r.value.id).ok).toBe(true);
    expect(s.engine.updateOrigin(r.value.id, { to: 'there' })).toMatchObject({ ok: false, error: { code: 'ALREADY_ENDED', facts: { state: 'cancelled' } } });
    // The store's own rule, for any caller that skips the engine.
    expect(() => s.store.updateOrigin(r.value.id, { to: 'there' })).toThrow(/until its end is delivered/);
  });
});
