/**
 * README, "How sharing works" → Delivered: "One that finished but was not sent … is sent again when
 * hearth next starts, at most 5 restarts and one day after it ended; then hearth logs that it gave up."
 * test/integration/delivery.test.ts proves the restart count; this proves the day.
 *
 * A hearth built as `hearth start` builds it (config file, HearthApp, dataDir/hearth.db), its GPU
 * simulated and its clock virtual, so the restarts happen hours apart without waiting. Two answers end
 * and are never delivered (no adapter shows them: as if hearth was killed between storing and sending
 * each): one at t0, one 20 h later. Each start publishes again the end of every one younger than a
 * day; at 25 h the first is given up on, with a warning naming it, and the second is still sent; at
 * 45 h the second is given up on too. Fewer than 5 restarts happen, so only the age can stop them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/engine/clock.js';
import type { EngineEvent, JobSpec } from '../../src/engine/types.js';
import { virtualApp, type VirtualApp } from '../helpers/virtual-app.js';

const dir = mkdtempSync(join(tmpdir(), 'hearth-delivery-age-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOUR_MS = 3_600_000;
const CHAT = { model: 'chat', kind: 'chat' as const, stepMs: 100, maxBatch: 4 };
const YAML = 'models:\n  chat: { path: ./chat.gguf }\n';

/** A chat job from somewhere (an origin: there is someone to deliver it to). */
const ask = (userId: string): JobSpec => ({ kind: 'chat', model: 'chat', userId, payload: { steps: 3 }, origin: { channel: `dm-${userId}` } });

interface Run extends VirtualApp {
  /** Ends (result, failed, cancelled) published by this hearth, from its start on. */
  ends: EngineEvent[];
}

/** Starts a hearth on `dir` at the clock's time, listening for ends before it starts (as adapters do). */
async function startAt(clock: VirtualClock): Promise<Run> {
  const v = await virtualApp({ dir, yaml: YAML, models: [CHAT], clock });
  const ends: EngineEvent[] = [];
  v.app.engine.on((e) => {
    if (e.event.type === 'result' || e.event.type === 'failed' || e.event.type === 'cancelled') ends.push(e);
  });
  await v.app.start();
  return { ...v, ends };
}

/** Warnings hearth logged that it gave up delivering a job's end. */
function gaveUp(run: Run): string[] {
  return run.logs
    .entries()
    .filter((e) => e.level === 40 && typeof e.msg === 'string' && e.msg.includes('gave up'))
    .map((e) => String(e.msg));
}

describe('an answer that ended but never reached its owner', () => {
  it('is sent again at each start while younger than a day, and not after: hearth logs that it gave up', async () => {
    const clock = new VirtualClock();
    const first = await startAt(clock);
    const t0 = clock.now();
    const old = first.app.engine.submit(ask('ann'));
    if (!old.ok) throw new Error(old.error.message);
    await first.app.engine.whenIdle();
    clock.advance(20 * HOUR_MS);
    const young = first.app.engine.submit(ask('bob'));
    if (!young.ok) throw new Error(young.error.message);
    await first.app.engine.whenIdle();
    expect(first.ends.map((e) => e.jobId)).toEqual([old.value.id, young.value.id]);
    const endedAt = (id: string): number | null | undefined => first.app.store.getJob(id)?.finishedAt;
    expect(endedAt(old.value.id)).toBeLessThan(t0 + HOUR_MS);
    expect(endedAt(young.value.id)).toBeGreaterThanOrEqual(t0 + 20 * HOUR_MS);
    await first.app.close();

    // 23 h after the first ended: both are younger than a day, both are sent again.
    clock.advance(3 * HOUR_MS);
    const at23h = await startAt(clock);
    expect(at23h.ends).toEqual([
      { jobId: old.value.id, userId: 'ann', event: { type: 'result', result: expect.objectContaining({ text: expect.any(String) }) } },
      { jobId: young.value.id, userId: 'bob', event: { type: 'result', result: expect.objectContaining({ text: expect.any(String) }) } },
    ]);
    expect(gaveUp(at23h)).toEqual([]);
    await at23h.app.close();

    // 25 h after the first ended: that one is given up on, and said so; the other (5 h) is still sent.
    clock.advance(2 * HOUR_MS);
    const at25h = await startAt(clock);
    expect(at25h.ends.map((e) => e.jobId)).toEqual([young.value.id]);
    const [warning, ...more] = gaveUp(at25h);
    expect(more).toEqual([]);
    expect(warning).toContain(old.value.id);
    expect(warning).toContain('ann');
    expect(warning).toMatch(/25 h after it ended/);
    // Given up on for good (not listed for the next start), and still not recorded as delivered.
    expect(at25h.app.store.listUndelivered().map((j) => j.id)).toEqual([young.value.id]);
    expect(at25h.app.store.getJob(old.value.id)?.deliveredAt).toBeNull();
    await at25h.app.close();

    // 45 h: the second one is now 25 h old too; nothing is sent, and it is given up on.
    clock.advance(20 * HOUR_MS);
    const at45h = await startAt(clock);
    expect(at45h.ends).toEqual([]);
    const last = gaveUp(at45h);
    expect(last).toHaveLength(1);
    expect(last[0]).toContain(young.value.id);
    expect(last[0]).toMatch(/25 h after it ended/);
    expect(at45h.app.store.listUndelivered()).toEqual([]);
    await at45h.app.close();
  });
});
