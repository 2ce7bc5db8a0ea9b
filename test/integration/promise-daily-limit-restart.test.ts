/**
 * README, "How sharing works" → Limits: "The daily GPU-seconds … are checked when a command is given
 * and again when each job is about to start … Admins are exempt, and a job that had already started
 * (and was interrupted by a restart) finishes."
 *
 * A hearth built as `hearth start` builds it, with `limits.dailyGpuSeconds: 4` in its hearth.yaml and
 * its store in dataDir/hearth.db; the GPU simulated, the clock virtual (one UTC day throughout). A
 * user's 20-step image (0.5 s a step) is accepted while the day is unused, with a 2-step one queued
 * behind it; the first is stopped by a restart after 10 steps (5 s: over the limit). hearth stops
 * cleanly, or as a kill -9 leaves it (a copy of the database taken mid-step through a second
 * connection: only what was committed). After the restart the interrupted image finishes; the queued
 * one, which never started, fails DAILY_LIMIT with its owner told; a new job of theirs is refused
 * DAILY_LIMIT. (Removing the dispatcher's exemption for a job that had begun fails both.)
 */
import Database from 'better-sqlite3';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/engine/clock.js';
import type { EngineEvent, JobSpec } from '../../src/engine/types.js';
import { SimGate } from '../fixtures/sim-runner.js';
import { virtualApp } from '../helpers/virtual-app.js';

const root = mkdtempSync(join(tmpdir(), 'hearth-daily-restart-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const LIMIT_S = 4;
const IMAGE = { model: 'image', kind: 'image' as const, stepMs: 500 };
const YAML = ['models:', '  image: { dir: ./sd }', 'limits:', `  dailyGpuSeconds: ${LIMIT_S}`, ''].join('\n');

const image = (steps: number): JobSpec => ({ kind: 'image', model: 'image', userId: 'ula', payload: { steps }, estimatedSteps: steps, origin: { channel: 'c' } });

describe('a job over the daily limit that had started before a restart', () => {
  for (const how of ['clean', 'kill'] as const) {
    it(`finishes after ${how === 'clean' ? 'a clean restart' : 'a kill -9'}, while their queued job that never started fails DAILY_LIMIT and a new one is refused`, async () => {
      const dir = join(root, how);
      mkdirSync(dir, { mode: 0o700 });
      const clock = new VirtualClock();
      const gate = new SimGate();
      const first = await virtualApp({ dir, yaml: YAML, models: [IMAGE], clock, gate });
      expect(first.config.limits.dailyGpuSeconds).toBe(LIMIT_S);
      await first.app.start();
      // Held before its 11th step: 10 steps (5 GPU-seconds) done and charged, the job running.
      const eleventh = gate.hold((s) => s.step === 11);
      const started = first.app.engine.submit(image(20));
      const waiting = first.app.engine.submit(image(2));
      if (!started.ok || !waiting.ok) throw new Error('refused while the day was unused');
      await eleventh.reached;
      expect(first.app.store.usageSince('ula', 0)).toBe(5);
      expect(first.app.store.getJob(started.value.id)).toMatchObject({ state: 'running', attempts: 1 });
      expect(first.app.store.getJob(waiting.value.id)).toMatchObject({ state: 'queued', attempts: 0 });

      let nextDir = dir;
      if (how === 'kill') {
        // What a kill -9 right now leaves on disk: the committed transactions, nothing more.
        nextDir = join(root, `${how}-after`);
        mkdirSync(nextDir, { mode: 0o700 });
        const db = new Database(join(dir, 'hearth.db'), { fileMustExist: true });
        try {
          db.exec(`VACUUM INTO '${join(nextDir, 'hearth.db')}'`);
        } finally {
          db.close();
        }
      }
      await first.app.close();
      gate.releaseAll();

      const second = await virtualApp({ dir: nextDir, yaml: YAML, models: [IMAGE], clock });
      const events: EngineEvent[] = [];
      second.app.engine.on((e) => events.push(e));
      await second.app.start();
      // A new job of theirs: the day is used up.
      const refused = second.app.engine.submit(image(2));
      expect(refused).toMatchObject({ ok: false, error: { code: 'DAILY_LIMIT', facts: { given: 5, allowed: LIMIT_S } } });
      await second.app.engine.whenIdle();

      const of = (id: string): string[] => events.filter((e) => e.jobId === id).map((e) => e.event.type);
      // The interrupted image ran again to its end, and its owner was sent the result.
      expect(second.app.store.getJob(started.value.id)).toMatchObject({ state: 'done', attempts: 2 });
      expect(of(started.value.id)).toContain('started');
      expect(of(started.value.id).at(-1)).toBe('result');
      // The one that never started did not start: it failed DAILY_LIMIT, and its owner was told.
      const never = second.app.store.getJob(waiting.value.id);
      expect(never).toMatchObject({ state: 'failed', attempts: 0, error: { code: 'DAILY_LIMIT', facts: { allowed: LIMIT_S } } });
      expect(never?.error?.message).toMatch(/not started.*midnight UTC/);
      expect(of(waiting.value.id)).toEqual(expect.arrayContaining(['failed']));
      expect(of(waiting.value.id)).not.toContain('started');
      // Only the interrupted image ran after the restart (from its start: 20 steps, 10 s) and was charged.
      expect(second.app.store.usageSince('ula', 0)).toBe(5 + 10);
      await second.app.close();
    });
  }
});
