/**
 * Upkeep: finished jobs' results and images pruned after `retention.days` with the GPU-seconds totals
 * kept, the database compacted at a quiet moment, and the file's size flat under steady traffic.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Upkeep } from '../../src/app/upkeep.js';
import { VirtualClock } from '../../src/engine/clock.js';
import { KEPT_TURNS } from '../../src/engine/store/sqlite-retention.js';
import { SqliteStore } from '../../src/engine/store/sqlite-store.js';
import { simApp } from '../helpers/sim-app.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2025, 0, 1);
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'hearth-retention-'));
  dirs.push(d);
  return d;
}

let n = 0;
/** A finished image job of `userId` with a PNG-sized result, charged `seconds` in two rows, at `at`. */
function finishedImage(store: SqliteStore, userId: string, at: number, seconds = 2, bytes = 64 * 1024): string {
  const id = `job-${++n}`;
  store.insertJob({ id, kind: 'image', model: 'image', userId, payload: { prompt: 'a fox', steps: 2 }, estimateSeconds: 1 }, at);
  store.markRunning(id, at + 10);
  store.addUsage(userId, id, seconds / 2, at + 20);
  store.addUsage(userId, id, seconds / 2, at + 30);
  const png = new Uint8Array(bytes).map((_, i) => (i * 31 + n) & 0xff);
  store.finish(id, { state: 'done', result: { image: { png, width: 64, height: 64 }, text: 'a fox' } }, at + 40);
  return id;
}

const fileSize = (path: string): number => statSync(path).size + (statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0);

describe('retention in the store', () => {
  it('forgets conversation turns older than the cutoff, and keeps only the turns a question can still be given', () => {
    const store = SqliteStore.open(join(tempDir(), 'hearth.db'));
    try {
      for (let i = 0; i < 3; i++) store.appendTurn('idle', { role: 'user', content: `old ${i}` }, T0 + i);
      // An old turn of a conversation still in use goes too.
      store.appendTurn('busy', { role: 'user', content: 'long ago' }, T0);
      for (let i = 0; i < KEPT_TURNS + 50; i++) store.appendTurn('busy', { role: i % 2 ? 'assistant' : 'user', content: `turn ${i}` }, T0 + 40 * DAY + i);
      const report = store.retention.prune(T0 + 30 * DAY);
      expect(report.turns).toBe(3 + 1 + 50);
      expect(store.getTurns('idle')).toEqual([]);
      const kept = store.getTurns('busy', 1000);
      expect(kept).toHaveLength(KEPT_TURNS);
      expect(kept[0]!.content).toBe('turn 50');
      expect(kept.at(-1)!.content).toBe(`turn ${KEPT_TURNS + 49}`);
    } finally {
      store.close();
    }
  });

  it('prunes jobs that ended before the cutoff with their images, keeps newer and unfinished ones, and every usage total', () => {
    const store = SqliteStore.open(join(tempDir(), 'hearth.db'));
    try {
      const old = [finishedImage(store, 'u:a', T0), finishedImage(store, 'u:b', T0 + 3600_000), finishedImage(store, 'u:a', T0 + DAY)];
      const waiting = 'job-waiting';
      store.insertJob({ id: waiting, kind: 'chat', model: 'chat', userId: 'u:a', payload: {}, estimateSeconds: 1 }, T0);
      const recent = finishedImage(store, 'u:a', T0 + 40 * DAY, 5);
      const totals = store.usageByUser(0);
      const dayOne = store.usageSince('u:a', T0 + DAY);
      expect(totals).toEqual([{ userId: 'u:a', seconds: 9 }, { userId: 'u:b', seconds: 2 }]);

      const report = store.retention.prune(T0 + 40 * DAY - 30 * DAY);
      expect(report).toEqual({ jobs: 3, usageRows: 6, turns: 0 });
      for (const id of old) expect(store.getJob(id)).toBeUndefined();
      expect(store.getJob(waiting)?.state).toBe('queued');
      expect(store.getJob(recent)?.result?.image?.png.byteLength).toBe(64 * 1024);
      // The ledger keeps its totals, per user and per UTC day.
      expect(store.usageByUser(0)).toEqual(totals);
      expect(store.usageSince('u:a', T0 + DAY)).toBe(dayOne);
      expect(store.usageBuckets(0, DAY).map((b) => [b.userId, b.bucketStart, b.seconds])).toEqual([
        ['u:a', T0, 2],
        ['u:b', T0, 2],
        ['u:a', T0 + DAY, 2],
        ['u:a', T0 + 40 * DAY, 5],
      ]);
      // Pruning again finds nothing more (folded rows are not folded twice).
      expect(store.retention.prune(T0 + 10 * DAY)).toEqual({ jobs: 0, usageRows: 0, turns: 0 });
      expect(store.usageByUser(0)).toEqual(totals);
    } finally {
      store.close();
    }
  });

  it('gives the freed space back: a VACUUM the first time, incremental after', () => {
    const path = join(tempDir(), 'hearth.db');
    const store = SqliteStore.open(path);
    try {
      expect(store.retention.compact()).toEqual({ freedPages: 0, mode: 'none' });
      for (let i = 0; i < 20; i++) finishedImage(store, 'u:a', T0 + i * 1000);
      store.retention.compact();
      const full = fileSize(path);
      store.retention.prune(T0 + DAY);
      const first = store.retention.compact();
      expect(first.mode).toBe('vacuum');
      expect(fileSize(path)).toBeLessThan(full / 4);
      for (let i = 0; i < 20; i++) finishedImage(store, 'u:a', T0 + 2 * DAY + i * 1000);
      store.retention.prune(T0 + 3 * DAY);
      const second = store.retention.compact();
      expect(second.mode).toBe('incremental');
      expect(second.freedPages).toBeGreaterThan(0);
      expect(fileSize(path)).toBeLessThan(full / 4);
      expect(store.usageByUser(0)).toEqual([{ userId: 'u:a', seconds: 80 }]);
    } finally {
      store.close();
    }
  });

  it('keeps the file the same size under steady traffic (a daily upkeep, 3 days kept)', () => {
    const path = join(tempDir(), 'hearth.db');
    const store = SqliteStore.open(path);
    const sizes: number[] = [];
    try {
      for (let day = 0; day < 10; day++) {
        for (let i = 0; i < 12; i++) finishedImage(store, `u:${i % 5}`, T0 + day * DAY + i * 60_000, 1, 32 * 1024);
        store.retention.prune(T0 + (day + 1) * DAY - 3 * DAY);
        store.retention.compact();
        sizes.push(fileSize(path));
      }
      const steady = sizes.slice(4);
      expect(Math.max(...steady)).toBeLessThanOrEqual(Math.min(...steady) * 1.15);
      expect(store.usageByUser(0).reduce((a, u) => a + u.seconds, 0)).toBe(10 * 12);
    } finally {
      store.close();
    }
  });
});

describe('Upkeep', () => {
  it('compacts only at a quiet moment, and a dispose before it comes ends the run', async () => {
    const store = SqliteStore.open(join(tempDir(), 'hearth.db'));
    try {
      finishedImage(store, 'u:a', T0);
      const upkeep = new Upkeep({ store: store.retention, days: 30, clock: new VirtualClock(T0 + 31 * DAY), whenIdle: () => new Promise<void>(() => {}), log: { info() {} }, onError: (e) => { throw e; } });
      const run = upkeep.run();
      expect(upkeep.run()).toBe(run);
      upkeep.dispose();
      upkeep.dispose();
      expect(await run).toEqual({ pruned: { jobs: 1, usageRows: 2, turns: 0 }, compacted: undefined });
      expect(await upkeep.run()).toBeUndefined();
    } finally {
      store.close();
    }
  });

  it('runs at start and on demand in a whole hearth: jobs older than retention.days go, usage stays', async () => {
    // Real time (so steps take some and are charged), moved ahead by days when told.
    let offset = 0;
    const clock = { now: () => Date.now() + offset };
    const { app, dataDir } = await simApp({ adapters: [], clock, config: { retention: { days: 7 } } });
    dirs.push(dataDir);
    try {
      await app.start();
      const ids = [1, 2, 3].map((i) => {
        const r = app.engine.submit({ kind: 'image', model: 'image', userId: `u:${i}`, payload: { steps: 2 } }, { admin: true });
        if (!r.ok) throw new Error(r.error.message);
        return r.value.id;
      });
      await app.engine.whenIdle();
      const totals = app.store.usageByUser(0);
      expect(totals).toHaveLength(3);
      offset += 6 * DAY;
      expect((await app.upkeep())?.pruned.jobs).toBe(0);
      offset += 2 * DAY;
      const report = await app.upkeep();
      expect(report?.pruned.jobs).toBe(3);
      // Nothing runs, so the compaction did not wait.
      expect(report?.compacted).toBeDefined();
      for (const id of ids) expect(app.store.getJob(id)).toBeUndefined();
      expect(app.store.usageByUser(0)).toEqual(totals);
    } finally {
      await app.close();
      app.store.close();
    }
  });
});
