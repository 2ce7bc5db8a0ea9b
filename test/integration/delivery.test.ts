/**
 * Delivery is part of a job: its end is recorded as delivered once an adapter has shown it, and an
 * end that was stored but never shown is sent again after a restart, a bounded number of times.
 * (The kill -9 case, with real processes, is in durability.test.ts.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { InProcessExecutor } from '../../src/engine/executor/in-process-executor.js';
import { SqliteStore } from '../../src/engine/store/sqlite-store.js';
import type { EngineEvent } from '../../src/engine/types.js';
import { FakeDiscord, type FakeInteraction } from '../fakes/discord/fake-discord.js';
import { discordHearth, type DiscordHearth } from '../fakes/discord/harness.js';
import { SlackHarness, waitFor } from '../fakes/slack/harness.js';
import { SimRunner } from '../fixtures/sim-runner.js';
import { ConsoleClient } from '../browser/support/http-client.js';
import { webApp } from '../browser/support/web-app.js';

const dir = mkdtempSync(join(tmpdir(), 'hearth-delivery-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Forgets that a job's end was delivered, as when hearth is killed after storing it and before sending it. */
function undeliver(dbPath: string, jobId: string): void {
  const db = new Database(dbPath);
  try {
    db.prepare<[string]>('UPDATE jobs SET delivered_at = NULL WHERE id = ?').run(jobId);
  } finally {
    db.close();
  }
}

describe('delivery', () => {
  it('sends an undelivered end again at each start, and gives up after maxRedeliveries, saying so', async () => {
    const path = join(dir, 'bounded.db');
    const warnings: string[] = [];
    const start = async (): Promise<{ engine: Engine; store: SqliteStore; ends: EngineEvent[] }> => {
      const store = SqliteStore.open(path);
      const runner = new SimRunner({ model: 'chat', kind: 'chat', stepMs: 1 }, { sleep: () => new Promise((r) => setImmediate(r)) });
      const engine = new Engine({
        store,
        executor: new InProcessExecutor([runner]),
        vramBudgetBytes: 100e9,
        limits: { maxQueuedPerUser: 10, maxRedeliveries: 2 },
        log: { info() {}, warn: (m) => warnings.push(m), error() {} },
      });
      const ends: EngineEvent[] = [];
      engine.on((e) => {
        if (e.event.type === 'result' || e.event.type === 'failed' || e.event.type === 'cancelled') ends.push(e);
      });
      await engine.start();
      return { engine, store, ends };
    };
    const stop = async (run: { engine: Engine; store: SqliteStore }): Promise<void> => {
      await run.engine.close();
      run.store.close();
    };

    const first = await start();
    const r = first.engine.submit({ kind: 'chat', model: 'chat', userId: 'u', payload: { steps: 2 }, origin: { to: 'somewhere' } });
    const silent = first.engine.submit({ kind: 'chat', model: 'chat', userId: 'u', payload: { steps: 1 } });
    if (!r.ok || !silent.ok) throw new Error('refused');
    // Not ended yet: nothing to deliver.
    expect(first.engine.markDelivered(r.value.id)).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT' } });
    expect(first.engine.markDelivered('no-such-job')).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    await first.engine.whenIdle();
    expect(first.ends.map((e) => e.jobId).sort()).toEqual([r.value.id, silent.value.id].sort());
    await stop(first);

    // Two restarts send its result again (a job with no origin has nobody to send to).
    for (let i = 0; i < 2; i++) {
      const again = await start();
      expect(again.ends).toEqual([{ jobId: r.value.id, userId: 'u', event: { type: 'result', result: expect.objectContaining({ text: expect.any(String) }) } }]);
      await stop(again);
    }
    const last = await start();
    expect(last.ends).toEqual([]);
    expect(warnings.some((w) => w.includes(r.value.id) && w.includes('gave up'))).toBe(true);
    expect(last.store.listUndelivered()).toEqual([]);
    expect(last.store.getJob(r.value.id)?.deliveredAt).toBeNull();
    await stop(last);
  });

  describe('through Discord', () => {
    let fake: FakeDiscord;
    const apps: DiscordHearth[] = [];
    afterAll(async () => {
      for (const a of apps) await a.stop();
      await fake?.close();
    });

    const finalImage = (it: FakeInteraction) => {
      const m = fake.original(it);
      return m && m.attachments.some((a) => a.filename.endsWith('.png')) && m.components.length > 0 && !/step \d+ of/.test(m.content) ? m : null;
    };

    it('records the answer as delivered once shown, and shows a stored but unsent answer after a restart', async () => {
      fake = await FakeDiscord.start();
      const first = await discordHearth({ fake });
      apps.push(first);
      const dan = fake.user('dan');
      const it = fake.slash('imagine', { prompt: 'a red fox in snow', size: '256x256', steps: 2, seed: 1234 }, { user: dan });
      await fake.waitFor(() => finalImage(it), 'the image');
      const [job] = first.app.store.listJobs({ userId: `discord:${dan.id}` });
      expect(job).toBeDefined();
      await fake.waitFor(() => first.app.store.getJob(job!.id)?.deliveredAt, 'the delivery to be recorded');
      await first.stop();

      // As if hearth had been killed between storing the image and sending it.
      undeliver(join(first.dataDir, 'hearth.db'), job!.id);
      const m = fake.original(it)!;
      const editsBefore = m.edits.length;
      const second = await discordHearth({ fake, dataDir: first.dataDir });
      apps.push(second);
      await fake.waitFor(() => second.app.store.getJob(job!.id)?.deliveredAt, 'the answer to be sent again');
      expect(m.edits.length).toBeGreaterThan(editsBefore);
      expect(finalImage(it)?.content).toContain('a red fox in snow');
      expect(apps.flatMap((a) => a.reported)).toEqual([]);
    });
  });

  describe('through Slack', () => {
    const harnesses: SlackHarness[] = [];
    afterAll(async () => {
      for (const h of harnesses) await h.close();
      await harnesses[0]?.fake.close();
    });

    it('records the image as delivered once uploaded, and uploads a stored but unsent one after a restart', async () => {
      const first = await SlackHarness.start({ mode: 'socket' });
      harnesses.push(first);
      const fake = first.fake;
      await first.command('/imagine', 'a lighthouse --steps 2 --seed 3', { user: 'U7', channel: 'C7' });
      await waitFor('the upload', () => fake.state.files.find((f) => f.channel === 'C7'));
      const [job] = first.app.store.listJobs({ userId: 'slack:U7' });
      expect(job).toBeDefined();
      await waitFor('the delivery to be recorded', () => first.app.store.getJob(job!.id)?.deliveredAt);
      await first.close();

      undeliver(join(first.dataDir, 'hearth.db'), job!.id);
      const second = await SlackHarness.start({ mode: 'socket', fake, dataDir: first.dataDir });
      harnesses.push(second);
      await waitFor('the image to be uploaded again', () => fake.state.files.filter((f) => f.channel === 'C7').length === 2);
      await waitFor('the delivery to be recorded again', () => second.app.store.getJob(job!.id)?.deliveredAt);
      expect([...first.errors, ...second.errors]).toEqual([]);
    });
  });

  it('through the console: a card in its session’s history is delivered', async () => {
    const h = await webApp({ chatStepMs: 1 });
    try {
      const c = await new ConsoleClient(h.web.url()).visit();
      const r = await c.post('/api/ask', { prompt: 'hello there', ref: 'q1' });
      expect(r.status).toBe(200);
      const jobId = r.json.jobId as string;
      await waitFor('the delivery to be recorded', () => h.app.store.getJob(jobId)?.deliveredAt);
      expect(h.app.store.getJob(jobId)?.state).toBe('done');
    } finally {
      await h.close();
    }
  });
});
