/**
 * README, "How sharing works" → Durable: "after a restart queued jobs go on in fair order"; DESIGN,
 * Durability: virtual times are saved and restored.
 *
 * A painter (images) and a talker (chats) are both backlogged on models that don't fit together, with
 * a fairness lag of 30 s: the painter, whose model is loaded, runs ahead of the talker. hearth then
 * stops, either cleanly (engine.close()) or as a kill -9 would leave it (a copy of the SQLite file
 * taken mid-step through a second connection: only what was committed). A new engine on that file
 * must give the next steps to the talker, who is behind: the painter's backlog does not go first.
 * The same restart with the saved virtual times ignored gives the painter the GPU first, so the
 * check can fail.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/engine/clock.js';
import { Engine } from '../../src/engine/engine.js';
import { InProcessExecutor } from '../../src/engine/executor/in-process-executor.js';
import { VirtualTimeScheduler } from '../../src/engine/scheduler/virtual-time-scheduler.js';
import { SqliteStore } from '../../src/engine/store/sqlite-store.js';
import type { JobEvent, JobSpec } from '../../src/engine/types.js';
import { SimRunner } from '../fixtures/sim-runner.js';

const dir = mkdtempSync(join(tmpdir(), 'hearth-restart-order-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LAG_S = 30;
/** GPU-seconds the painter is ahead when hearth stops. */
const AHEAD_S = 12;

/** A scheduler that forgets the saved virtual times: what a restart without them would do. */
class ForgetfulScheduler extends VirtualTimeScheduler {
  override restoreVirtualTimes(): void {}
}

interface OnDisk {
  engine: Engine;
  store: SqliteStore;
  clock: VirtualClock;
  close(): Promise<void>;
}

/** An engine on a virtual clock with simulated runners, its store in a file (so it can be restarted). */
async function engineAt(path: string, policy: VirtualTimeScheduler): Promise<OnDisk> {
  const clock = new VirtualClock();
  const store = SqliteStore.open(path);
  const hooks = {
    sleep: async (ms: number) => {
      clock.advance(ms);
      await Promise.resolve();
    },
  };
  const runners = [
    new SimRunner({ model: 'image', kind: 'image', stepMs: 500, vramBytes: 6e9, loadMs: 200 }, hooks),
    new SimRunner({ model: 'chat', kind: 'chat', stepMs: 100, maxBatch: 1, vramBytes: 6e9, loadMs: 200 }, hooks),
  ];
  const engine = new Engine({ store, executor: new InProcessExecutor(runners), clock, vramBudgetBytes: 8e9, limits: { maxQueuedPerUser: 100 }, policy });
  await engine.start();
  return {
    engine,
    store,
    clock,
    close: async () => {
      await engine.close();
      store.close();
    },
  };
}

/** One GPU step ended: a simulated image reports progress, a simulated chat (batch of one) a token. */
const isStep = (e: JobEvent): boolean => e.type === 'progress' || e.type === 'token';

const image = (steps: number): JobSpec => ({ kind: 'image', model: 'image', userId: 'painter', payload: { steps }, estimatedSteps: steps });
const chat = (steps: number): JobSpec => ({ kind: 'chat', model: 'chat', userId: 'talker', payload: { steps }, estimatedSteps: steps });

/**
 * Runs the first hearth until the painter is AHEAD_S GPU-seconds ahead with both backlogged, then
 * stops it (`clean`) or copies its database mid-step (a kill -9). Returns the database the next
 * hearth opens.
 */
async function firstRun(name: string, how: 'clean' | 'kill'): Promise<{ path: string; painter: number; talker: number }> {
  const path = join(dir, `${name}.db`);
  const snapshot = join(dir, `${name}-killed.db`);
  const first = await engineAt(path, new VirtualTimeScheduler({ fairnessLagSeconds: LAG_S }));
  // The painter's backlog is sent first: on a tie it would go first.
  for (let i = 0; i < 10; i++) first.engine.submit(image(10));
  for (let i = 0; i < 6; i++) first.engine.submit(chat(20));
  let stopped: Promise<void> | undefined;
  let used = { painter: 0, talker: 0 };
  first.engine.on((e) => {
    if (stopped || !isStep(e.event)) return;
    if (first.store.usageSince('painter', 0) < AHEAD_S) return;
    used = { painter: first.store.usageSince('painter', 0), talker: first.store.usageSince('talker', 0) };
    if (how === 'kill') {
      // What a kill -9 right now leaves on disk: the committed transactions, nothing more.
      const db = new Database(path, { fileMustExist: true });
      try {
        db.exec(`VACUUM INTO '${snapshot}'`);
      } finally {
        db.close();
      }
      stopped = Promise.resolve();
    } else stopped = first.engine.close();
  });
  while (!stopped) await new Promise((r) => setImmediate(r));
  await stopped;
  await first.close();
  expect(used.talker).toBe(0);
  expect(used.painter).toBeGreaterThanOrEqual(AHEAD_S);
  return { path: how === 'kill' ? snapshot : path, ...used };
}

/** Who got each of the first `n` steps of a hearth started on `path`, and the jobs it found waiting. */
async function stepsAfterRestart(path: string, policy: VirtualTimeScheduler, n: number): Promise<{ owners: string[]; queued: Record<string, number> }> {
  const next = await engineAt(path, policy);
  try {
    const waiting = next.store.listJobs({ states: ['queued', 'running'] });
    const queued: Record<string, number> = {};
    for (const j of waiting) queued[j.userId] = (queued[j.userId] ?? 0) + 1;
    const owners: string[] = [];
    next.engine.on((e) => {
      if (isStep(e.event) && owners.length < n) owners.push(e.userId);
    });
    while (owners.length < n) await new Promise((r) => setImmediate(r));
    return { owners, queued };
  } finally {
    await next.close();
  }
}

describe('after a restart, queued jobs go on in fair order', () => {
  for (const how of ['clean', 'kill'] as const) {
    it(`a ${how === 'clean' ? 'clean stop' : 'kill -9'}: the user who is behind goes first, not the heavy user’s backlog`, async () => {
      const before = await firstRun(`fair-${how}`, how);
      const after = await stepsAfterRestart(before.path, new VirtualTimeScheduler({ fairnessLagSeconds: LAG_S }), 40);
      // Both still had work waiting.
      expect(after.queued.painter).toBeGreaterThanOrEqual(8);
      expect(after.queued.talker).toBe(6);
      // 40 chat steps are 4 GPU-seconds: all of them the talker's, who is about AHEAD_S behind.
      expect(after.owners).toEqual(Array.from({ length: 40 }, () => 'talker'));
    });
  }

  it('the check fails a restart that forgets the saved virtual times', async () => {
    const before = await firstRun('forgetful', 'kill');
    const after = await stepsAfterRestart(before.path, new ForgetfulScheduler({ fairnessLagSeconds: LAG_S }), 40);
    // Everyone level again: the painter's earlier-sent backlog goes first, and stays on its loaded model.
    expect(after.owners[0]).toBe('painter');
    expect(after.owners.filter((o) => o === 'painter').length).toBeGreaterThan(20);
  });
});
