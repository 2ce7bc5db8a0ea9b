import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NewJob } from '../../src/engine/store/job-store.js';
import { SCHEMA_VERSION } from '../../src/engine/store/migrations.js';
import { SqliteStore } from '../../src/engine/store/sqlite-store.js';
import { HearthError } from '../../src/engine/types.js';
import { transitions } from '../helpers/store-sql.js';

const HOUR = 3_600_000;

let dir: string;
let opened: Array<{ close(): void }>;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-store-'));
  opened = [];
});

afterEach(() => {
  for (const c of opened) c.close();
  rmSync(dir, { recursive: true, force: true });
});

function dbPath(): string {
  return join(dir, 'nested', 'hearth.db');
}

function open(path = dbPath()): SqliteStore {
  const store = SqliteStore.open(path);
  opened.push(store);
  return store;
}

/** A second, independent connection: sees only what the store has committed. */
function peek(path = dbPath()): Database.Database {
  const db = new Database(path, { readonly: true });
  opened.push(db);
  return db;
}

function job(id: string, userId: string, extra: Partial<NewJob> = {}): NewJob {
  return { id, kind: 'chat', model: 'chat', userId, payload: { prompt: `hello from ${id}` }, estimateSeconds: 2, ...extra };
}

function pendingOf(db: Database.Database): Record<string, number> {
  const rows = db.prepare<[], { id: string; pending: number }>('SELECT id, pending FROM users ORDER BY id').all();
  return Object.fromEntries(rows.map((r) => [r.id, r.pending]));
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof HearthError) return e.code;
    throw e;
  }
  return undefined;
}

describe('SqliteStore', () => {
  it('opens with WAL, FULL sync, foreign keys and a busy timeout, creating the parent folder', () => {
    const store = open();
    expect(store.settings()).toEqual({
      journalMode: 'wal',
      synchronous: 2,
      foreignKeys: true,
      busyTimeoutMs: 5000,
      schemaVersion: SCHEMA_VERSION,
    });
    expect(peek().pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
  });

  it('refuses a database written by a newer schema', () => {
    const path = dbPath();
    open(path).close();
    const db = new Database(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(codeOf(() => open(path))).toBe('INVALID_INPUT');
  });

  it('has an inserted job visible to another connection as soon as insertJob returns', () => {
    const store = open();
    const reader = peek();
    const rec = store.insertJob(
      job('j1', 'discord:1', { origin: { channel: 'c' }, conversationId: 'conv', weight: 2 }),
      1000,
    );
    expect(rec).toMatchObject({ id: 'j1', state: 'queued', attempts: 0, weight: 2, origin: { channel: 'c' }, createdAt: 1000 });
    const row = reader.prepare('SELECT id, state, user_id, payload FROM jobs WHERE id = ?').get('j1');
    expect(row).toEqual({ id: 'j1', state: 'queued', user_id: 'discord:1', payload: '{"prompt":"hello from j1"}' });
    expect(pendingOf(reader)).toEqual({ 'discord:1': 1 });
    expect(reader.prepare('SELECT count(*) AS n FROM job_transitions WHERE job_id = ?').get('j1')).toEqual({ n: 1 });
  });

  it('rejects a duplicate id, a weight ≤ 0 and a negative estimate, writing nothing', () => {
    const store = open(':memory:');
    store.insertJob(job('a', 'u'), 1);
    expect(codeOf(() => store.insertJob(job('a', 'u'), 2))).toBe('INVALID_INPUT');
    expect(codeOf(() => store.insertJob(job('b', 'u', { weight: 0 }), 2))).toBe('INVALID_INPUT');
    expect(codeOf(() => store.insertJob(job('c', 'u', { estimateSeconds: -1 }), 2))).toBe('INVALID_INPUT');
    expect(store.listJobs().map((j) => j.id)).toEqual(['a']);
    expect(store.countActive('u')).toBe(1);
  });

  it('lists jobs in FIFO order by seq, newest first on request, filtered by state and user', () => {
    const store = open(':memory:');
    for (const [id, user] of [['x', 'u1'], ['y', 'u2'], ['z', 'u1'], ['w', 'u2']] as const) store.insertJob(job(id, user), 10);
    const all = store.listJobs();
    expect(all.map((j) => j.id)).toEqual(['x', 'y', 'z', 'w']);
    expect(all.map((j) => j.seq)).toEqual([...all.map((j) => j.seq)].sort((a, b) => a - b));
    expect(new Set(all.map((j) => j.seq)).size).toBe(4);

    store.markRunning('x', 11);
    store.finish('y', { state: 'cancelled' }, 12);
    expect(store.listJobs({ states: ['queued'] }).map((j) => j.id)).toEqual(['z', 'w']);
    expect(store.listJobs({ states: ['queued', 'running'] }).map((j) => j.id)).toEqual(['x', 'z', 'w']);
    expect(store.listJobs({ userId: 'u1', order: 'recent' }).map((j) => j.id)).toEqual(['z', 'x']);
    expect(store.listJobs({ order: 'recent', limit: 2 }).map((j) => j.id)).toEqual(['w', 'z']);
    expect(store.listJobs({ states: ['cancelled'], userId: 'u2' }).map((j) => j.id)).toEqual(['y']);
    expect(codeOf(() => store.listJobs({ limit: 0 }))).toBe('INVALID_INPUT');
  });

  it('records every state change, with attempts, crashes and times', () => {
    const path = dbPath();
    const store = open(path);
    store.insertJob(job('j', 'u'), 100);
    expect(store.markRunning('j', 200)).toMatchObject({ state: 'running', attempts: 1, startedAt: 200 });
    expect(store.markQueued('j', 300, 'worker exited with code 134', { crashed: true })).toMatchObject({
      state: 'queued',
      attempts: 1,
      crashes: 1,
      startedAt: null,
    });
    expect(store.markRunning('j', 400)).toMatchObject({ attempts: 2, startedAt: 400 });
    expect(store.markQueued('j', 450, 'model swap')).toMatchObject({ crashes: 1 });
    store.markRunning('j', 500);
    expect(store.finish('j', { state: 'done', result: { text: 'hi', stopReason: 'endOfTurn' } }, 600, 'ok')).toMatchObject({
      state: 'done',
      attempts: 3,
      finishedAt: 600,
      result: { text: 'hi', stopReason: 'endOfTurn' },
      error: null,
    });
    expect(transitions(path, 'j').map((t) => [t.from, t.to, t.at, t.note])).toEqual([
      [null, 'queued', 100, null],
      ['queued', 'running', 200, 'attempt 1'],
      ['running', 'queued', 300, 'worker exited with code 134'],
      ['queued', 'running', 400, 'attempt 2'],
      ['running', 'queued', 450, 'model swap'],
      ['queued', 'running', 500, 'attempt 3'],
      ['running', 'done', 600, 'ok'],
    ]);
    expect(transitions(path, 'j', 2).map((t) => t.to)).toEqual(['running', 'done']);
  });

  it('counts the crash that fails a job in its record, in the same write', () => {
    const store = open(dbPath());
    store.insertJob(job('k', 'u'), 100);
    store.markRunning('k', 200);
    store.markQueued('k', 300, 'worker exited with code 134', { crashed: true });
    store.markRunning('k', 400);
    const error = { code: 'WORKER_CRASHED' as const, message: 'this job stopped the GPU worker twice, so it was not tried again', facts: { crashes: 2, reason: 'exit 134' } };
    expect(store.finish('k', { state: 'failed', error, crashed: true }, 500, 'WORKER_CRASHED')).toMatchObject({ state: 'failed', crashes: 2, error });
    // A failure that is not a crash (or a finish of an ended job) counts none.
    store.insertJob(job('l', 'u'), 600);
    store.markRunning('l', 700);
    expect(store.finish('l', { state: 'failed', error: { code: 'RUNNER_FAILED', message: 'bad input' } }, 800)).toMatchObject({ crashes: 0 });
    expect(store.finish('k', { state: 'failed', error, crashed: true }, 900)).toMatchObject({ crashes: 2 });
  });

  it('refuses transitions the state does not allow, and unknown ids', () => {
    const store = open(':memory:');
    store.insertJob(job('j', 'u'), 1);
    expect(codeOf(() => store.markQueued('j', 2, 'not running'))).toBe('INVALID_INPUT');
    store.finish('j', { state: 'cancelled' }, 3);
    expect(codeOf(() => store.markRunning('j', 4))).toBe('INVALID_INPUT');
    expect(codeOf(() => store.markRunning('nope', 4))).toBe('NOT_FOUND');
    expect(codeOf(() => store.finish('nope', { state: 'done' }, 4))).toBe('NOT_FOUND');
    expect(store.getJob('nope')).toBeUndefined();
    expect(store.getJob('j')?.state).toBe('cancelled');
  });

  it('finishes a job only once: a second finish changes nothing', () => {
    const path = dbPath();
    const store = open(path);
    store.insertJob(job('j', 'u'), 1);
    store.insertJob(job('k', 'u'), 1);
    store.markRunning('j', 2);
    const first = store.finish('j', { state: 'done', result: { text: 'first' } }, 3);
    const second = store.finish('j', { state: 'failed', error: { code: 'RUNNER_FAILED', message: 'late' } }, 4);
    expect(second).toEqual(first);
    expect(store.getJob('j')).toEqual(first);
    expect(store.getJob('j')).toMatchObject({ state: 'done', result: { text: 'first' }, error: null, finishedAt: 3 });
    expect(transitions(path, 'j').map((t) => t.to)).toEqual(['queued', 'running', 'done']);
    // The pending count went down once, not twice: k is still counted.
    expect(store.countActive('u')).toBe(1);
    expect(pendingOf(peek(path))).toEqual({ u: 1 });
  });

  it('keeps pending counters right through mixed operations and heals them on recovery', () => {
    const path = dbPath();
    const store = open(path);
    store.insertJob(job('a1', 'a'), 1);
    store.insertJob(job('a2', 'a'), 1);
    store.insertJob(job('b1', 'b'), 1);
    store.insertJob(job('b2', 'b'), 1);
    store.insertJob(job('c1', 'c'), 1);
    store.markRunning('a1', 2);
    store.finish('a1', { state: 'done' }, 3);
    store.finish('b1', { state: 'cancelled' }, 3);
    store.markRunning('b2', 4);
    store.markQueued('b2', 5, 'retry');
    store.markRunning('c1', 6);
    store.finish('c1', { state: 'failed', error: { code: 'RUNNER_FAILED', message: 'boom' } }, 7);
    const reader = peek(path);
    expect(pendingOf(reader)).toEqual({ a: 1, b: 1, c: 0 });
    expect(['a', 'b', 'c'].map((u) => store.countActive(u))).toEqual([1, 1, 0]);

    // Drift the cache behind the store's back; recovery rebuilds it from the jobs.
    const writer = new Database(path);
    writer.prepare("UPDATE users SET pending = 9 WHERE id IN ('a', 'c')").run();
    writer.close();
    store.markRunning('a2', 8);
    store.recoverAfterRestart(9);
    expect(pendingOf(reader)).toEqual({ a: 1, b: 1, c: 0 });
  });

  it('requeues a job that was running at a restart, every time, counting no crash against it', () => {
    const path = dbPath();
    let store = open(path);
    store.insertJob(job('r', 'u'), 1);
    store.insertJob(job('q', 'u'), 2);
    store.markRunning('r', 3);
    store.close(); // the main process "dies" with r running

    store = open(path);
    const first = store.recoverAfterRestart(10);
    expect(first.requeued.map((j) => [j.id, j.state, j.crashes, j.startedAt])).toEqual([['r', 'queued', 0, null]]);
    expect(store.listJobs({ states: ['queued'] }).map((j) => j.id)).toEqual(['r', 'q']);
    expect(store.getJob('q')).toMatchObject({ state: 'queued', crashes: 0 });
    store.markRunning('r', 11);
    store.close();

    // A second hard restart: the job is not blamed for the main process's death either.
    store = open(path);
    const second = store.recoverAfterRestart(20);
    expect(second.requeued.map((j) => [j.id, j.state, j.crashes, j.attempts])).toEqual([['r', 'queued', 0, 2]]);
    expect(transitions(path, 'r').map((t) => `${t.from}->${t.to}:${t.note ?? ''}`)).toEqual([
      'null->queued:',
      'queued->running:attempt 1',
      'running->queued:hearth restarted while it ran',
      'queued->running:attempt 2',
      'running->queued:hearth restarted while it ran',
    ]);
    expect(store.countActive('u')).toBe(2);
    expect(pendingOf(peek(path))).toEqual({ u: 2 });
    // Nothing is running any more, so a further restart changes nothing.
    expect(store.recoverAfterRestart(30)).toEqual({ requeued: [] });
  });

  it('keeps a usage ledger: per user, since a time, bucketed, and on the job', () => {
    const path = dbPath();
    const store = open(path);
    const day = Date.UTC(2025, 0, 15);
    store.insertJob(job('a', 'alice'), day);
    store.insertJob(job('b', 'bob'), day);
    store.addUsage('alice', 'a', 1.5, day + 10);
    store.addUsage('alice', 'a', 2.5, day + HOUR + 10);
    store.addUsage('bob', 'b', 10, day + HOUR + 20);
    store.addUsage('alice', 'a', 0.25, day + 3 * HOUR);

    expect(store.getJob('a')?.usedSeconds).toBe(4.25);
    expect(store.getJob('b')?.usedSeconds).toBe(10);
    expect(store.usageSince('alice', day)).toBe(4.25);
    expect(store.usageSince('alice', day + HOUR)).toBe(2.75);
    expect(store.usageSince('carol', day)).toBe(0);
    expect(store.usageByUser(day)).toEqual([
      { userId: 'bob', seconds: 10 },
      { userId: 'alice', seconds: 4.25 },
    ]);
    expect(store.usageByUser(day + 2 * HOUR)).toEqual([{ userId: 'alice', seconds: 0.25 }]);
    expect(store.usageBuckets(day, HOUR)).toEqual([
      { userId: 'alice', bucketStart: day, seconds: 1.5 },
      { userId: 'alice', bucketStart: day + HOUR, seconds: 2.5 },
      { userId: 'bob', bucketStart: day + HOUR, seconds: 10 },
      { userId: 'alice', bucketStart: day + 3 * HOUR, seconds: 0.25 },
    ]);
    expect(store.usageBuckets(day, 24 * HOUR)).toEqual([
      { userId: 'alice', bucketStart: day, seconds: 4.25 },
      { userId: 'bob', bucketStart: day, seconds: 10 },
    ]);
    expect(peek(path).prepare('SELECT DISTINCT day FROM usage').pluck().all()).toEqual(['2025-01-15']);

    expect(codeOf(() => store.addUsage('alice', 'a', -1, day))).toBe('INVALID_INPUT');
    expect(codeOf(() => store.addUsage('alice', 'missing', 1, day))).toBe('NOT_FOUND');
    expect(codeOf(() => store.usageBuckets(day, 0))).toBe('INVALID_INPUT');
    expect(store.usageSince('alice', 0)).toBe(4.25);
  });

  it('round-trips virtual times across a reopen', () => {
    const path = dbPath();
    let store = open(path);
    store.insertJob(job('a', 'alice'), 1);
    store.saveVirtualTimes([
      { userId: 'alice', vtime: 12.5 },
      { userId: 'bob', vtime: 3 },
    ]);
    store.saveVirtualTimes([{ userId: 'bob', vtime: 7.25 }]);
    expect(codeOf(() => store.saveVirtualTimes([{ userId: 'x', vtime: Number.NaN }]))).toBe('INVALID_INPUT');
    store.close();
    store = open(path);
    expect(store.loadVirtualTimes()).toEqual(
      new Map([
        ['alice', 12.5],
        ['bob', 7.25],
      ]),
    );
    // Saving a vtime does not disturb the user's pending count.
    expect(store.countActive('alice')).toBe(1);
    expect(pendingOf(peek(path))).toEqual({ alice: 1, bob: 0 });
  });

  it('appends, reads, clears conversation turns, and keeps them across a reopen', () => {
    const path = dbPath();
    let store = open(path);
    expect(store.getTurns('t1')).toEqual([]);
    store.appendTurn('t1', { role: 'system', content: 'be brief' }, 1);
    store.appendTurn('t1', { role: 'user', content: 'hi' }, 2);
    const last = store.appendTurn('t1', { role: 'assistant', content: 'hello', meta: { jobId: 'j1', tokens: 3 } }, 3);
    expect(last).toMatchObject({ conversationId: 't1', seq: 3, role: 'assistant', meta: { jobId: 'j1', tokens: 3 }, at: 3 });
    store.appendTurn('t2', { role: 'context', content: 'a photo of a cat' }, 4);
    store.close();

    store = open(path);
    expect(store.getTurns('t1').map((t) => [t.seq, t.role, t.content])).toEqual([
      [1, 'system', 'be brief'],
      [2, 'user', 'hi'],
      [3, 'assistant', 'hello'],
    ]);
    expect(store.getTurns('t1', 2).map((t) => t.content)).toEqual(['hi', 'hello']);
    expect(store.getTurns('t1')[2]).toEqual(last);

    expect(store.clearConversation('t1')).toBe(3);
    expect(store.getTurns('t1')).toEqual([]);
    expect(store.getTurns('t2')).toHaveLength(1);
    expect(store.appendTurn('t1', { role: 'user', content: 'again' }, 6).seq).toBe(1);
    expect(store.clearConversation('unknown')).toBe(0);
  });

  it('round-trips a PNG result byte-exact', () => {
    const path = dbPath();
    let store = open(path);
    const png = new Uint8Array(70_000);
    for (let i = 0; i < png.length; i++) png[i] = (i * 131 + (i >> 8)) & 0xff;
    png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0]);
    // A view into a larger buffer: only its own bytes must be stored.
    const backing = new Uint8Array(png.length + 20).fill(0xee);
    backing.set(png, 10);
    const view = backing.subarray(10, 10 + png.length);

    store.insertJob(job('img', 'u', { kind: 'image', model: 'image' }), 1);
    store.markRunning('img', 2);
    store.finish(
      'img',
      { state: 'done', result: { image: { png: view, width: 64, height: 32 }, meta: { seed: 42, steps: 4 }, stopReason: 'done' } },
      3,
    );
    store.close();

    store = open(path);
    const result = store.getJob('img')?.result;
    expect(result?.image?.png).toBeInstanceOf(Uint8Array);
    expect(Buffer.compare(Buffer.from(result?.image?.png ?? []), Buffer.from(png))).toBe(0);
    expect(result).toEqual({ image: { png, width: 64, height: 32 }, meta: { seed: 42, steps: 4 }, stopReason: 'done' });
    const raw = peek(path).prepare('SELECT result FROM jobs WHERE id = ?').pluck().get('img');
    expect(raw).toBe('{"meta":{"seed":42,"steps":4},"stopReason":"done","image":{"width":64,"height":32}}');
  });

  it('closes twice safely, also through Symbol.dispose, and refuses use afterwards', () => {
    const store = SqliteStore.open(dbPath());
    store.close();
    store.close();
    store[Symbol.dispose]();
    expect(() => store.getJob('x')).toThrow(/not open/);

    const other = SqliteStore.open(':memory:');
    {
      using s = other;
      s.insertJob(job('a', 'u'), 1);
    }
    expect(() => other.countActive('u')).toThrow(/not open/);
  });
});

describe('changing a waiting job', () => {
  it('replaces the input of a queued job only, and where a job answers until its end is delivered, durably', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hearth-store-amend-'));
    const path = join(dir, 'h.db');
    const s = SqliteStore.open(path);
    try {
      s.insertJob(job('p', 'u'), 1);
      expect(s.updatePayload('p', { steps: 9 }).payload).toEqual({ steps: 9 });
      expect(s.updateOrigin('p', { channel: 'c1' }).origin).toEqual({ channel: 'c1' });
      s.markRunning('p', 2);
      expect(codeOf(() => s.updatePayload('p', { steps: 1 }))).toBe('INVALID_INPUT');
      expect(s.updateOrigin('p', { channel: 'c1', followups: ['m1'] }).origin).toEqual({ channel: 'c1', followups: ['m1'] });
      s.finish('p', { state: 'done' }, 3);
      // Ended but not delivered: the final render may still record a message it posts.
      expect(s.updateOrigin('p', { channel: 'c1', followups: ['m1'] }).origin).toEqual({ channel: 'c1', followups: ['m1'] });
      s.markDelivered('p', 4);
      expect(codeOf(() => s.updateOrigin('p', {}))).toBe('INVALID_INPUT');
      const again = new Database(path, { readonly: true });
      const row = again.prepare('SELECT origin, payload FROM jobs WHERE id = ?').get('p') as { origin: string; payload: string };
      again.close();
      expect(JSON.parse(row.origin)).toEqual({ channel: 'c1', followups: ['m1'] });
      expect(JSON.parse(row.payload)).toEqual({ steps: 9 });
    } finally {
      s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
