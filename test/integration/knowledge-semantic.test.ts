/**
 * Semantic retrieval for workspace knowledge (issue 17, must-have 2): messages embedded by the real
 * embedding runner (transformers.js on the tiny BERT-shaped model the fixture writes, whose synonyms
 * embed together by construction) through the real engine and fair scheduler, vectors in sqlite-vec in
 * the store's own database, fused with FTS5 by reciprocal rank fusion.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { Invocation } from '../../src/commands/invocation.js';
import { Engine } from '../../src/engine/engine.js';
import { InProcessExecutor } from '../../src/engine/executor/in-process-executor.js';
import { MIGRATIONS, migrate } from '../../src/engine/store/migrations.js';
import { SqliteStore } from '../../src/engine/store/sqlite-store.js';
import { INDEX_OWNER, INDEX_WEIGHT, QUESTION_OWNER } from '../../src/knowledge/embedder.js';
import { MIN_COMMON_MESSAGES, withoutCommonTerms } from '../../src/knowledge/common-terms.js';
import { ftsQuery } from '../../src/knowledge/fts-query.js';
import { KnowledgeBase } from '../../src/knowledge/knowledge-base.js';
import { MessageIndex } from '../../src/knowledge/message-index.js';
import { fuseByRank } from '../../src/knowledge/rank-fusion.js';
import { semanticKnowledge, type SemanticKnowledge } from '../../src/knowledge/semantic-setup.js';
import { VectorIndex } from '../../src/knowledge/vector-index.js';
import type { ChannelRef, IndexedMessage, PlatformKnowledge } from '../../src/knowledge/types.js';
import { VirtualTimeScheduler } from '../../src/engine/scheduler/virtual-time-scheduler.js';
import { EmbedRunner } from '../../src/runners/embed/embed-runner.js';
import { inspectEmbedFolder } from '../../src/runners/embed/model-folder.js';
import { writeTinyEmbedder } from '../fixtures/tiny-embedder.js';
import { simEngine } from '../helpers/sim-engine.js';

const general: ChannelRef = { platform: 'slack', workspace: 'T1', channel: 'CGEN' };
const secret: ChannelRef = { platform: 'slack', workspace: 'T1', channel: 'CSEC' };
const scope = { platform: 'slack' as const, workspace: 'T1', channels: ['CGEN'] };

function msg(ref: ChannelRef, id: string, text: string): IndexedMessage {
  return { ...ref, messageId: id, author: 'U1', authorName: 'sam', at: 1_700_000_000_000 + Number(id.replace(/\D/g, '') || 0), text };
}

/** Filler that shares no word with the questions below (and means other things to the tiny model). */
const FILLER = ['pizza for lunch today', 'the printer needs toner', 'parking garage is full', 'deploy the release on monday', 'office room booked'];

const asker: Invocation = { platform: 'slack', userId: 'slack:U9', admin: false, weight: 1, workspaceId: 'T1', origin: null };

/** The platform side (who reads what, links), faked at the edge: the asker reads #general only. */
const slack: PlatformKnowledge = {
  platform: 'slack',
  readable: async (_w, _u, channels) => new Set(channels.filter((c) => c === 'CGEN')),
  link: async (m) => `https://slack.test/archives/${m.channel}/p${m.messageId}`,
};

let root = '';
let modelDir = '';

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hearth-ksem-'));
  modelDir = (await writeTinyEmbedder(join(root, 'tiny-bert'))).dir;
});
afterAll(() => rm(root, { recursive: true, force: true }));

interface World {
  store: SqliteStore;
  engine: Engine;
  index: MessageIndex;
  semantic: SemanticKnowledge;
  base: KnowledgeBase;
  errors: unknown[];
  /** Every embed job that ended with a result, as the engine told it. */
  done: Array<{ jobId: string; userId: string }>;
  close(): Promise<void>;
}

const open: World[] = [];
afterEach(async () => {
  for (const w of open.splice(0)) await w.close();
});

async function world(dbPath: string): Promise<World> {
  const store = SqliteStore.open(dbPath);
  const runner = new EmbedRunner({ model: 'embedding', dir: modelDir, providers: ['cpu'], cacheDir: join(root, 'cache'), threads: 1 }, { log: () => undefined });
  const engine = new Engine({ store, executor: new InProcessExecutor([runner]), vramBudgetBytes: 2 ** 30, limits: { maxQueuedPerUser: 5 } });
  await engine.start();
  const errors: unknown[] = [];
  const done: World['done'] = [];
  engine.on((e) => {
    if (e.event.type === 'result') done.push({ jobId: e.jobId, userId: e.userId });
  });
  const index = new MessageIndex(store.database);
  const semantic = semanticKnowledge({ db: store.database, index, jobs: engine, embedding: { dir: modelDir, batchSize: 16 }, report: (e) => errors.push(e), idlePollMs: 10, questionTimeoutMs: 30_000 });
  const base = new KnowledgeBase({ index, channels: { slack: ['CGEN', 'CSEC'], discord: [] }, topK: 3, report: (e) => errors.push(e), semantic: semantic.search });
  base.register(slack);
  const w: World = {
    store,
    engine,
    index,
    semantic,
    base,
    errors,
    done,
    close: async () => {
      await semantic.embedder.close();
      await engine.close();
      await runner.dispose();
      store.close();
    },
  };
  open.push(w);
  return w;
}

async function caughtUp(w: World): Promise<void> {
  w.semantic.embedder.start();
  await w.semantic.embedder.whenCaughtUp();
  expect(w.errors).toEqual([]);
}

/** How many embed jobs of the index's own were done (their rows are deleted once done: counted from the events). */
function indexJobsRun(w: World): number {
  return w.done.filter((e) => e.userId === INDEX_OWNER).length;
}

function fillerMessages(n: number): IndexedMessage[] {
  return Array.from({ length: n }, (_, i) => msg(i % 3 ? general : secret, `f${i}`, `${FILLER[i % FILLER.length]} (${i})`));
}

describe('semantic retrieval (sqlite-vec + RRF)', () => {
  test('the message closest in meaning comes first where full text finds nothing, and only from readable channels', async () => {
    const w = await world(':memory:');
    w.index.upsert([...fillerMessages(120), msg(general, 'w1', 'The wireless passphrase is hunter2'), msg(secret, 'w2', 'The internet passcode for the vault is 0000')]);
    await caughtUp(w);
    expect(w.semantic.vectors.count()).toBe(122);
    const question = "what's the wifi password?";
    expect(w.index.search(ftsQuery(question), scope, 5)).toEqual([]);
    const got = await w.base.retrieve(question, asker);
    expect(got?.sources[0]?.url).toBe('https://slack.test/archives/CGEN/pw1');
    expect(got?.context).toContain('hunter2');
    // The private channel's near-synonym is never used.
    expect(got?.context).not.toContain('vault');
    expect(got?.sources.map((s) => s.channel)).not.toContain('CSEC');
    // The embed jobs belonged to the index's system owner (its ledger: 122 messages in batches of 16);
    // no person was charged. Their rows went once their vectors were kept (see the backfill test below).
    expect(indexJobsRun(w)).toBe(8);
    expect(w.store.usageSince(INDEX_OWNER, 0)).toBeGreaterThan(0);
    expect(w.store.usageSince('slack:U9', 0)).toBe(0);
  });

  test('reciprocal rank fusion puts what both lists found first, and keeps each list’s own finds', async () => {
    // Pure fusion, k = 60: a in both lists (rank 2 each) beats x and y (rank 1 of one list each).
    const fused = fuseByRank([['x', 'a'], ['y', 'a']], (s) => s, 3);
    expect(fused.map((f) => f.item)).toEqual(['a', 'x', 'y']);
    expect(fused[0]?.score).toBeCloseTo(2 / 62, 10);
    expect(fused[0]?.ranks).toEqual([2, 2]);

    const w = await world(':memory:');
    w.index.upsert([
      ...fillerMessages(60),
      msg(general, 'both', 'standup moved to tuesday'),
      msg(general, 'ftsOnly', 'standup notes are in the doc, see you there'),
      msg(general, 'vecOnly', 'the huddle was rescheduled'),
    ]);
    await caughtUp(w);
    const question = 'standup moved';
    const fts = w.index.search(ftsQuery(question), scope, 10).map((h) => h.messageId);
    expect(fts).toContain('ftsOnly');
    expect(fts).not.toContain('vecOnly');
    const got = await w.base.retrieve(question, asker);
    const ids = got?.sources.map((s) => s.url.split('/p').at(-1));
    expect(ids?.[0]).toBe('both');
    expect(ids).toEqual(expect.arrayContaining(['ftsOnly', 'vecOnly']));
  });

  test('a deleted message leaves the vector table; an edited one is embedded again from its new text', async () => {
    const w = await world(':memory:');
    w.index.upsert([...fillerMessages(30), msg(general, 'w1', 'the wireless passphrase is hunter2')]);
    await caughtUp(w);
    const db = w.store.database;
    const rowid = db.prepare<[string], { id: number }>("SELECT id FROM knowledge_messages WHERE message_id = ?").get('w1')!.id;
    const vectorRows = (): number => db.prepare<[bigint], { n: number }>('SELECT count(*) AS n FROM knowledge_vec WHERE rowid = ?').get(BigInt(rowid))!.n;
    expect(vectorRows()).toBe(1);

    w.index.upsert([msg(general, 'w1', 'pizza for lunch on tuesday')]);
    expect(vectorRows()).toBe(0);
    await caughtUp(w);
    expect(vectorRows()).toBe(1);
    expect((await w.base.retrieve('wifi password', asker))?.context ?? '').not.toContain('pizza for lunch on tuesday');

    expect(w.index.remove(general, 'w1')).toBe(true);
    expect(vectorRows()).toBe(0);
    expect(w.semantic.vectors.count()).toBe(30);
    expect(w.semantic.vectors.pendingCount()).toBe(0);
    const after = await w.base.retrieve('pizza lunch tuesday', asker);
    expect(after?.sources.length).toBeGreaterThan(0);
    expect(after?.sources.map((s) => s.url)).not.toContain('https://slack.test/archives/CGEN/pw1');
  });

  test('embeddings survive a restart: nothing is embedded again, and search by meaning works at once', async () => {
    const path = join(root, `restart-${Date.now()}.db`);
    const first = await world(path);
    first.index.upsert([...fillerMessages(40), msg(general, 'w1', 'The wireless passphrase is hunter2')]);
    await caughtUp(first);
    const before = first.semantic.vectors.count();
    const indexJobs = indexJobsRun(first);
    expect(indexJobs).toBe(3);
    await first.close();
    open.splice(open.indexOf(first), 1);

    const second = await world(path);
    expect(second.semantic.vectors.dims).toBe(16);
    expect(second.semantic.vectors.count()).toBe(before);
    expect(second.semantic.vectors.pendingCount()).toBe(0);
    const got = await second.base.retrieve('wifi password', asker);
    expect(got?.sources[0]?.url).toBe('https://slack.test/archives/CGEN/pw1');
    // Only the question was embedded after the restart; the index's own jobs are those from before.
    second.semantic.embedder.start();
    await second.semantic.embedder.whenCaughtUp();
    expect(indexJobsRun(second)).toBe(0);
    expect(second.done.filter((e) => e.userId === QUESTION_OWNER)).toHaveLength(1);
  });

  test('a backfill leaves no embed job rows or results behind: their vectors are in the index, their GPU time in the ledger', async () => {
    const w = await world(':memory:');
    const db = w.store.database;
    const embedRows = (): { jobs: number; transitions: number; resultBytes: number } =>
      db.prepare<[], { jobs: number; transitions: number; resultBytes: number }>(
        `SELECT (SELECT count(*) FROM jobs WHERE kind = 'embed') AS jobs,
                (SELECT count(*) FROM job_transitions t JOIN jobs j ON j.id = t.job_id WHERE j.kind = 'embed') AS transitions,
                (SELECT coalesce(sum(length(result)), 0) FROM jobs WHERE kind = 'embed') AS resultBytes`,
      ).get()!;
    // 30 batches of 16: each job's result holds 16 vectors (as JSON) that would otherwise stay in its row.
    w.index.upsert([...fillerMessages(479), msg(general, 'w1', 'The wireless passphrase is hunter2')]);
    await caughtUp(w);
    expect(w.semantic.vectors.count()).toBe(480);
    expect(indexJobsRun(w)).toBe(30);
    expect(embedRows()).toEqual({ jobs: 0, transitions: 0, resultBytes: 0 });
    // The GPU time stays on the index's own account: the ledger rows outlive the jobs.
    const ledger = db.prepare<[string], { rows: number; orphans: number }>(
      'SELECT count(*) AS rows, count(*) FILTER (WHERE job_id NOT IN (SELECT id FROM jobs)) AS orphans FROM usage WHERE user_id = ?',
    ).get(INDEX_OWNER)!;
    expect(ledger.orphans).toBe(ledger.rows);
    // A question's embedding goes the same way once read.
    expect((await w.base.retrieve("what's the wifi password?", asker))?.sources.length).toBeGreaterThan(0);
    expect(w.done.filter((e) => e.userId === QUESTION_OWNER)).toHaveLength(1);
    expect(embedRows().jobs).toBe(0);
    // Only done jobs go: one still queued is left alone, even when asked for.
    const queued = w.engine.submit({ kind: 'embed', model: 'embedding', userId: 'slack:U9', payload: { texts: ['x'] }, estimatedSteps: 1 });
    if (!queued.ok) throw new Error(queued.error.message);
    expect(w.engine.discard([queued.value.id], { userId: 'slack:U9' })).toBe(0);
    await w.engine.whenIdle();
    // A person's ended job is theirs to keep: another user (not an admin) cannot delete it.
    expect(w.engine.discard([queued.value.id], { userId: 'slack:U8' })).toBe(0);
    expect(w.engine.discard([queued.value.id], { userId: 'slack:U9' })).toBe(1);
    expect(w.engine.getJob(queued.value.id)).toBeUndefined();
  });

  test('an asker who reads only a little of the workspace still gets the nearest of what they read', () => {
    const store = SqliteStore.open(':memory:');
    try {
      const index = new MessageIndex(store.database);
      const vectors = new VectorIndex(store.database, 'test:hand-made');
      // 600 messages in #general point near the question; 5 in #secret point away, at growing angles.
      index.upsert([...Array.from({ length: 600 }, (_, i) => msg(general, `g${i}`, `general ${i}`)), ...Array.from({ length: 5 }, (_, i) => msg(secret, `s${i}`, `secret ${i}`))]);
      const unit = (a: number): Float32Array => Float32Array.from({ length: 16 }, (_, d) => (d === 0 ? Math.cos(a) : d === 1 ? Math.sin(a) : 0));
      const pending = vectors.pending(1000);
      expect(pending).toHaveLength(605);
      const secretAngle = (text: string): number => 2 + Number(text.split(' ')[1]) * 0.1;
      vectors.save(pending.map((p) => ({ ...p, vector: p.text.startsWith('general') ? unit(0.01 * (p.id % 50)) : unit(secretAngle(p.text)) })));
      const hits = vectors.search(unit(0), { platform: 'slack', workspace: 'T1', channels: ['CSEC'] }, 3);
      expect(hits.map((h) => h.messageId)).toEqual(['s0', 's1', 's2']);
      expect(vectors.search(unit(0), { platform: 'slack', workspace: 'T2', channels: ['CSEC'] }, 3)).toEqual([]);
    } finally {
      store.close();
    }
  });

  test('words in more than 5% of messages (past 1,000) are left out of the full-text query', () => {
    const store = SqliteStore.open(':memory:');
    try {
      const index = new MessageIndex(store.database);
      const n = MIN_COMMON_MESSAGES * 2;
      index.upsert(Array.from({ length: n }, (_, i) => msg(general, `m${i}`, `lunch order ${i}${i % 4 === 0 ? ' with pizza' : ''}`)));
      index.upsert([msg(general, 'w1', 'lunch wifi password is hunter2')]);
      // "lunch" is in every message, "pizza" in a quarter (500 < 1,000: kept), "wifi" in one.
      expect(withoutCommonTerms(ftsQuery('lunch pizza wifi'), index)).toBe('"pizza" OR "wifi"');
      expect(withoutCommonTerms(ftsQuery('lunch order'), index)).toBe('');
      expect(index.search(withoutCommonTerms(ftsQuery('lunch wifi'), index), scope, 3).map((h) => h.messageId)).toEqual(['w1']);
    } finally {
      store.close();
    }
  });

  test('migration 4 keeps jobs (and their numbering) and admits embed jobs', () => {
    const db = new Database(':memory:');
    db.pragma('foreign_keys = ON');
    for (const m of MIGRATIONS.slice(0, 3)) db.exec(m.sql);
    db.pragma('user_version = 3');
    db.exec(`INSERT INTO users (id) VALUES ('u');
      INSERT INTO jobs (id, kind, model, user_id, payload, state, created_at) VALUES ('j1', 'chat', 'chat', 'u', '{}', 'done', 1), ('j2', 'chat', 'chat', 'u', '{}', 'done', 2);
      INSERT INTO job_transitions (job_id, to_state, at) VALUES ('j1', 'done', 1);
      DELETE FROM jobs WHERE id = 'j2';`);
    expect(migrate(db)).toEqual({ from: 3, to: MIGRATIONS.length });
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    db.exec(`INSERT INTO jobs (id, kind, model, user_id, payload, state, created_at) VALUES ('j3', 'embed', 'embedding', 'u', '{}', 'queued', 3)`);
    expect(db.prepare('SELECT seq, id, kind FROM jobs ORDER BY seq').all()).toEqual([
      { seq: 1, id: 'j1', kind: 'chat' },
      { seq: 3, id: 'j3', kind: 'embed' },
    ]);
    expect(() => db.exec(`INSERT INTO jobs (id, kind, model, user_id, payload, state, created_at) VALUES ('j4', 'video', 'x', 'u', '{}', 'queued', 3)`)).toThrow(/CHECK/);
    db.close();
  });
});

describe('embedding as GPU work', () => {
  test('a backlog of index embed jobs (system owner, low weight) never starves a person, and is charged to no one', async () => {
    const sim = await simEngine({
      models: [
        { model: 'embedding', kind: 'embed', stepMs: 200 },
        { model: 'chat', kind: 'chat', stepMs: 100 },
      ],
      policy: new VirtualTimeScheduler({ fairnessLagSeconds: 30 }),
    });
    try {
      for (let i = 0; i < 40; i++) {
        const r = sim.engine.submit({ kind: 'embed', model: 'embedding', userId: INDEX_OWNER, weight: INDEX_WEIGHT, payload: { steps: 1 }, estimatedSteps: 1 }, { admin: true });
        expect(r.ok).toBe(true);
      }
      const person = sim.engine.submit({ kind: 'chat', model: 'chat', userId: 'slack:U1', payload: { steps: 10 }, estimatedSteps: 10 });
      if (!person.ok) throw new Error(person.error.message);
      await sim.engine.whenIdle();
      const personSteps = sim.stepLog.map((s, i) => (s.jobIds.includes(person.value.id) ? i : -1)).filter((i) => i >= 0);
      expect(personSteps).toHaveLength(10);
      const embedBefore = sim.stepLog.slice(0, personSteps.at(-1)).filter((s) => s.model === 'embedding').length;
      // At most the embed step running when the person came, and one its weight entitles it to.
      expect(embedBefore).toBeLessThanOrEqual(2);
      expect(sim.stepLog.filter((s) => s.model === 'embedding')).toHaveLength(40);
      // The person paid for their own steps only; the index's GPU time is on its own account.
      expect(sim.store.usageSince('slack:U1', 0)).toBeCloseTo(1.0, 5);
      expect(sim.store.usageSince(INDEX_OWNER, 0)).toBeCloseTo(8.0, 5);
    } finally {
      await sim.close();
    }
  });

  test('a model folder without its files is refused naming models.embedding.dir and the file', async () => {
    const dir = join(root, 'not-a-model');
    await expect(inspectEmbedFolder(dir)).rejects.toMatchObject({ code: 'MODEL_MISSING', facts: { key: 'models.embedding.dir', file: 'config.json' } });
    const noOnnx = join(root, 'no-onnx');
    await writeTinyEmbedder(noOnnx);
    await rm(join(noOnnx, 'onnx'), { recursive: true });
    await expect(inspectEmbedFolder(noOnnx)).rejects.toMatchObject({ code: 'MODEL_MISSING', message: expect.stringContaining('onnx/model.onnx') });
  });
});
