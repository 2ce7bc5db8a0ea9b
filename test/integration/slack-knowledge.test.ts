/**
 * Workspace knowledge end to end on Slack: the real Slack adapter reads seeded channel histories from
 * the fake Slack (paged conversations.history and conversations.replies), keeps them current from
 * message events, and /ask answers with the relevant messages given to the (simulated) model and
 * listed as permalinks; private channels only for their members; a backfill cut off by a restart
 * goes on where it stopped.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { SqliteStore } from '../../src/engine/store/sqlite-store.js';
import type { JobRecord } from '../../src/engine/types.js';
import { EmbedRunner } from '../../src/runners/embed/embed-runner.js';
import { writeTinyEmbedder } from '../fixtures/tiny-embedder.js';
import { chatPayloadOf, type ChatPayload } from '../../src/jobs/chat.js';
import { changedEvent, deletedEvent, messageEvent, permalinkOf } from '../fakes/slack/history.js';
import { FakeSlack } from '../fakes/slack/fake-slack.js';
import { SlackHarness, waitFor } from '../fakes/slack/harness.js';
import { mention } from '../fakes/slack/payloads.js';

const FILLER = ['lunch is at noon today', 'the printer on floor 2 jammed again', 'deploy of the api went fine', 'who has the projector remote?', 'standup notes are in the doc', 'coffee machine descaled'];

const FULL_TEXT_ONLY = 'Search by meaning: off: full text only (no models.embedding.dir; `hearth models pull --defaults` downloads one).';

function knowledgeConfig(channels: string[]): Record<string, unknown> {
  return { knowledge: { slackChannels: channels, slackRequestsPerMinute: 1000, accessCacheSeconds: 60 } };
}

/** The chat payload of the user's newest chat job once its answer reached Slack. */
async function answered(h: SlackHarness, user: string, before: number): Promise<{ job: JobRecord; payload: ChatPayload }> {
  const job = await waitFor(`the answer to ${user}`, () =>
    h.app.store.listJobs({ userId: `slack:${user}` }).filter((j) => j.kind === 'chat' && j.seq > before && j.deliveredAt !== null)[0],
  );
  const payload = chatPayloadOf(job);
  if (!payload) throw new Error('not a chat payload');
  return { job, payload };
}

function lastSeq(h: SlackHarness): number {
  return h.app.store.listJobs({ order: 'recent', limit: 1 })[0]?.seq ?? 0;
}

/** Everything the model was given, as one text. */
function given(p: ChatPayload): string {
  return p.messages.map((m) => m.content).join('\n');
}

describe('Slack workspace knowledge', () => {
  let fake: FakeSlack;
  let h: SlackHarness;
  const seeded: Record<string, ReturnType<FakeSlack['history']['seed']>> = {};

  beforeAll(async () => {
    fake = new FakeSlack();
    await fake.start();
    fake.history.pageSize = 25;
    fake.history.addChannel('CGEN', { name: 'general', members: ['UALICE', 'UBOB', 'USAM'] });
    fake.history.addChannel('CPRIV', { name: 'finance', private: true, members: ['UBOB'] });
    fake.history.addChannel('COTHER', { name: 'not-indexed' });
    for (const [id, name] of [['UALICE', 'Alice'], ['UBOB', 'Bob'], ['USAM', 'Sam']] as const) fake.history.addUser(id, name);
    for (let i = 0; i < 240; i++) fake.history.seed('CGEN', i % 2 ? 'UALICE' : 'UBOB', `${FILLER[i % FILLER.length]} #${i}`);
    const parent = fake.history.seed('CGEN', 'UALICE', 'does anyone know how to get on the network in the lab?');
    seeded.wifi = fake.history.seed('CGEN', 'USAM', 'The lab wifi password is hunter2, it rotates every quarter', { thread: parent.ts });
    for (let i = 0; i < 40; i++) fake.history.seed('CGEN', 'UBOB', `${FILLER[(i + 3) % FILLER.length]} again #${i}`);
    seeded.standup = fake.history.seed('CGEN', 'UBOB', 'standup is at 10:00 on Mondays from now on');
    seeded.budget = fake.history.seed('CPRIV', 'UBOB', 'the budget code for the offsite is ZEBRA-42');
    fake.history.seed('COTHER', 'UBOB', 'the budget code in another channel is OTTER-7');
    h = await SlackHarness.start({ mode: 'socket', fake, slack: { adminUsers: ['UADMIN'] }, config: knowledgeConfig(['CGEN', 'CPRIV']) });
    await h.adapter.knowledge?.backfilled;
  });

  afterAll(async () => {
    await h?.close({ fake: true });
  });

  afterEach(() => {
    expect(h.errors).toEqual([]);
  });

  test('the backfill pages through history and threads; the right message is cited among many', async () => {
    const stats = h.app.knowledge!.index.stats();
    expect(stats.channels.map((c) => [c.channel, c.messages, c.private])).toEqual([['CGEN', 283, false], ['CPRIV', 1, true]]);
    expect(fake.state.callsOf('conversations.history').length).toBeGreaterThan(10);
    expect(fake.state.callsOf('conversations.replies').map((c) => c.args.ts)).toContain(seeded.wifi!.thread);

    const before = lastSeq(h);
    await h.command('/ask', "what's the lab wifi password?", { user: 'UALICE', channel: 'CGEN' });
    const { job, payload } = await answered(h, 'UALICE', before);
    const url = permalinkOf(seeded.wifi!);
    expect(payload.sources?.[0]).toMatchObject({ url, author: 'Sam', channel: 'CGEN' });
    // The model got the message with its author and date, before the question.
    const context = payload.messages.at(-2)?.content ?? '';
    expect(context).toMatch(/\[1\] Sam, \d{4}-\d{2}-\d{2} \(in a thread\): The lab wifi password is hunter2/);
    expect(payload.messages.at(-1)).toEqual({ role: 'user', content: "what's the lab wifi password?" });
    // The answer ends with its sources as links to the messages.
    const origin = job.origin as { thread?: string };
    const reply = await waitFor('the answer with sources', () => fake.state.thread('CGEN', origin.thread ?? '').find((m) => m.stream?.stopped && m.text.includes('Sources')));
    expect(reply.text).toContain(`[1. Sam, ${new Date(payload.sources![0]!.at).toISOString().slice(0, 10)}](${url}`);
    expect(fake.state.callsOf('chat.getPermalink').length).toBeGreaterThan(0);
  });

  test('a private channel the asker is not in is never used or cited; its member gets it', async () => {
    let before = lastSeq(h);
    await h.command('/ask', 'what is the budget code for the offsite?', { user: 'UALICE', channel: 'CGEN' });
    const alice = await answered(h, 'UALICE', before);
    expect(given(alice.payload)).not.toContain('ZEBRA');
    expect(alice.payload.sources?.some((s) => s.channel === 'CPRIV') ?? false).toBe(false);
    // A channel that is not indexed is never read.
    expect(given(alice.payload)).not.toContain('OTTER');
    expect(fake.state.callsOf('conversations.members').map((c) => c.args.channel)).toContain('CPRIV');

    before = lastSeq(h);
    await h.command('/ask', 'what is the budget code for the offsite?', { user: 'UBOB', channel: 'CGEN' });
    const bob = await answered(h, 'UBOB', before);
    expect(given(bob.payload)).toContain('ZEBRA-42');
    expect(bob.payload.sources?.[0]).toMatchObject({ url: permalinkOf(seeded.budget!), channel: 'CPRIV' });
  });

  test('a mention in a channel is answered from the knowledge too', async () => {
    const before = lastSeq(h);
    const { event } = mention("what's the lab wifi password?", { user: 'UBOB', channel: 'CGEN' });
    await h.event(event);
    const { payload } = await answered(h, 'UBOB', before);
    expect(payload.sources?.[0]?.url).toBe(permalinkOf(seeded.wifi!));
    expect(given(payload)).toContain('hunter2');
  });

  test('knowledge never crosses workspaces', async () => {
    const before = lastSeq(h);
    await h.command('/ask', "what's the lab wifi password?", { user: 'UALICE', channel: 'CGEN', team: 'T0002' });
    const { payload } = await answered(h, 'UALICE', before);
    expect(payload.sources).toBeUndefined();
    expect(given(payload)).not.toContain('hunter2');
  });

  test('an edited or deleted message changes what is found; a new message is found', async () => {
    const index = h.app.knowledge!.index;
    const standup = seeded.standup!;
    const ref = { platform: 'slack' as const, workspace: 'T0001', channel: 'CGEN' };
    fake.history.edit('CGEN', standup.ts, 'standup moved to 9:15 on Tuesdays');
    await h.event(changedEvent(standup, 'standup is at 10:00 on Mondays from now on'));
    await waitFor('the edit indexed', () => index.get(ref, standup.ts)?.text.includes('Tuesdays'));

    let before = lastSeq(h);
    await h.command('/ask', 'when is standup?', { user: 'UALICE', channel: 'CGEN' });
    const edited = await answered(h, 'UALICE', before);
    expect(given(edited.payload)).toContain('standup moved to 9:15 on Tuesdays');
    expect(given(edited.payload)).not.toContain('Mondays');

    fake.history.remove('CGEN', standup.ts);
    await h.event(deletedEvent(standup));
    await waitFor('the deletion indexed', () => index.get(ref, standup.ts) === undefined);
    const added = fake.history.seed('CGEN', 'USAM', 'the parking garage code is 4711');
    await h.event(messageEvent(added));
    await waitFor('the new message indexed', () => index.get(ref, added.ts));

    before = lastSeq(h);
    await h.command('/ask', 'when is standup? and the parking garage code?', { user: 'UALICE', channel: 'CGEN' });
    const after = await answered(h, 'UALICE', before);
    expect(given(after.payload)).not.toContain('Tuesdays');
    expect(after.payload.sources?.map((s) => s.url)).toContain(permalinkOf(added));
    expect(after.payload.sources?.map((s) => s.url)).not.toContain(permalinkOf(standup));
  });

  /** The private answer to `/hearth …`. */
  async function told(text: string, user: string, team = 'T0001'): Promise<string> {
    const n = fake.responses.length;
    await h.command('/hearth', text, { user, channel: 'CGEN', team });
    return waitFor(`the answer to /hearth ${text}`, () => fake.responses.slice(n).map((r) => (typeof r.body.text === 'string' ? r.body.text : '')).find((t) => t.length > 0));
  }

  test('/hearth knowledge status shows admins what is indexed; drop #channel forgets it; others are refused', async () => {
    expect(await told('knowledge status', 'UALICE')).toMatch(/^You can't do that: only hearth admins/);
    const index = h.app.knowledge!.index;
    const general = index.count({ platform: 'slack', workspace: 'T0001', channel: 'CGEN' });
    const status = await told('knowledge status', 'UADMIN');
    expect(status).toMatch(new RegExp(`^\\*Workspace knowledge: ${general + 1} messages in 2 channels, last synced [^*\n]+\\*\n`));
    // No embedding model configured: full text only, and no vector counts.
    expect(status.split('\n')[1]).toBe(FULL_TEXT_ONLY);
    expect(status).toContain(`• <#CGEN>: ${general} messages, history read`);
    expect(status).toContain('• <#CPRIV>: 1 message, history read');
    expect(status).not.toContain('with vectors');
    // An admin in another workspace sees and drops nothing of this one.
    expect(await told('knowledge status', 'UADMIN', 'T0002')).toBe(`*Workspace knowledge: 0 messages in 0 channels.*\n${FULL_TEXT_ONLY}\nNothing has been read here yet.`);
    expect(await told('knowledge drop <#CGEN|general>', 'UADMIN', 'T0002')).toMatch(/^Channel CGEN is not in this workspace's index; nothing is indexed here/);

    expect(await told('knowledge drop <#CPRIV|finance>', 'UALICE')).toMatch(/^You can't do that/);
    expect(await told('knowledge drop <#CPRIV|finance>', 'UADMIN')).toMatch(/^Dropped <#CPRIV> from the index \(1 message\)\. It is still in the config/);
    expect(index.count({ platform: 'slack', workspace: 'T0001', channel: 'CPRIV' })).toBe(0);
    // Typed as a name, matched against the indexed channels' names.
    expect(await told('knowledge drop #general', 'UADMIN')).toMatch(new RegExp(`^Dropped <#CGEN> from the index \\(${general} messages\\)`));
    expect(await told('knowledge status', 'UADMIN')).toBe(`*Workspace knowledge: 0 messages in 0 channels.*\n${FULL_TEXT_ONLY}\nNothing has been read here yet.`);
    expect(await told('knowledge drop CGEN', 'UADMIN')).toMatch(/^Channel CGEN is not in this workspace's index; nothing is indexed here/);
  });
});

describe('Slack workspace knowledge with search by meaning', () => {
  test('the status shows the model and vectors per channel; a message found only by meaning is cited; never the private channel’s', async () => {
    const root = mkdtempSync(join(tmpdir(), 'hearth-slack-sem-'));
    const { dir } = await writeTinyEmbedder(join(root, 'tiny-bert'));
    const fake = new FakeSlack();
    await fake.start();
    fake.history.pageSize = 50;
    fake.history.addChannel('CGEN', { name: 'general', members: ['UALICE', 'UBOB'] });
    fake.history.addChannel('CPRIV', { name: 'finance', private: true, members: ['UBOB'] });
    // Filler that shares no word (and no meaning, to the tiny model) with the question.
    const filler = ['pizza for lunch today', 'the printer needs toner', 'parking garage is full', 'deploy the release on monday', 'office room booked'];
    for (let i = 0; i < 120; i++) fake.history.seed('CGEN', 'UBOB', `${filler[i % filler.length]} (${i})`);
    const wifi = fake.history.seed('CGEN', 'USAM', 'The wireless passphrase is hunter2');
    fake.history.seed('CPRIV', 'UBOB', 'The internet passcode for the vault is 0000');
    const runner = new EmbedRunner({ model: 'embedding', dir, providers: ['cpu'], cacheDir: join(root, 'cache'), threads: 1 }, { log: () => undefined });
    const h = await SlackHarness.start({
      mode: 'socket',
      fake,
      slack: { adminUsers: ['UADMIN'] },
      runners: [runner],
      config: { ...knowledgeConfig(['CGEN', 'CPRIV']), models: { chat: { path: join(root, 'sim.gguf') }, embedding: { dir, batchSize: 16 } } },
    });
    try {
      await h.adapter.knowledge?.backfilled;
      const db = (h.app.store as SqliteStore).database;
      const waiting = (): number => db.prepare<[], { n: number }>('SELECT count(*) AS n FROM knowledge_embed_queue').get()!.n;
      await waitFor('every message embedded', () => waiting() === 0);

      const n = fake.responses.length;
      await h.command('/hearth', 'knowledge status', { user: 'UADMIN', channel: 'CGEN' });
      const status = await waitFor('the status', () => fake.responses.slice(n).map((r) => (typeof r.body.text === 'string' ? r.body.text : '')).find((t) => t.length > 0));
      expect(status.split('\n')[1]).toBe(`Search by meaning: on, with tiny-bert (${dir}): all 122 messages have vectors.`);
      expect(status).toContain('• <#CGEN>: 121 messages, 121 with vectors, history read');
      expect(status).toContain('• <#CPRIV>: 1 message, 1 with vectors, history read');

      // Neither "wifi" nor "password" is in any message: full text finds nothing, meaning finds it.
      const before = lastSeq(h);
      await h.command('/ask', "what's the wifi password?", { user: 'UALICE', channel: 'CGEN' });
      const { payload } = await answered(h, 'UALICE', before);
      expect(payload.sources?.[0]?.url).toBe(permalinkOf(wifi));
      expect(given(payload)).toContain('hunter2');
      // The private channel's near-synonym is closer still to no one Alice may read.
      expect(given(payload)).not.toContain('vault');
      expect(payload.sources?.some((s) => s.channel === 'CPRIV') ?? false).toBe(false);

      // Edited: its old vector goes at once, and the model is no longer given the old text.
      fake.history.edit('CGEN', wifi.ts, 'the coffee machine was descaled');
      await h.event(changedEvent(wifi, 'The wireless passphrase is hunter2'));
      await waitFor('the edit embedded', () => h.app.knowledge!.index.get({ platform: 'slack', workspace: 'T0001', channel: 'CGEN' }, wifi.ts)?.text.includes('coffee') && waiting() === 0);
      const again = lastSeq(h);
      await h.command('/ask', "what's the wifi password?", { user: 'UALICE', channel: 'CGEN' });
      expect(given((await answered(h, 'UALICE', again)).payload)).not.toContain('hunter2');
      expect(h.errors).toEqual([]);
    } finally {
      await h.close({ fake: true });
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('Slack knowledge backfill across a restart', () => {
  test('messages deleted while hearth was not running leave the index at the next start', async () => {
    const fake = new FakeSlack();
    await fake.start();
    fake.history.pageSize = 10;
    fake.history.addChannel('CLOG', { name: 'log' });
    const lines = Array.from({ length: 25 }, (_, i) => fake.history.seed('CLOG', 'UALICE', `log line ${i}`));
    const parent = fake.history.seed('CLOG', 'UALICE', 'the release checklist thread');
    const replies = [fake.history.seed('CLOG', 'UBOB', 'step one: tag it', { thread: parent.ts }), fake.history.seed('CLOG', 'UBOB', 'step two: announce it', { thread: parent.ts })];
    const first = await SlackHarness.start({ mode: 'socket', fake, config: knowledgeConfig(['CLOG']) });
    const ref = { platform: 'slack' as const, workspace: 'T0001', channel: 'CLOG' };
    let second: SlackHarness | undefined;
    try {
      await first.adapter.knowledge?.backfilled;
      expect(first.app.knowledge!.index.count(ref)).toBe(28);
      await first.close();
      // While hearth is down: a line and a reply are deleted (no one hears of it), a line is added.
      fake.history.remove('CLOG', lines[3]!.ts);
      fake.history.remove('CLOG', replies[1]!.ts);
      const added = fake.history.seed('CLOG', 'USAM', 'log line added while hearth was down');

      second = await SlackHarness.start({ mode: 'socket', fake, dataDir: first.dataDir, config: knowledgeConfig(['CLOG']) });
      await second.adapter.knowledge?.backfilled;
      const k = second.app.knowledge!.index;
      expect(k.get(ref, lines[3]!.ts)).toBeUndefined();
      expect(k.get(ref, replies[1]!.ts)).toBeUndefined();
      expect(k.get(ref, added.ts)?.text).toBe('log line added while hearth was down');
      expect(k.get(ref, replies[0]!.ts)?.threadId).toBe(parent.ts);
      expect(k.get(ref, lines[4]!.ts)).toBeDefined();
      expect(k.count(ref)).toBe(27);
      expect(second.errors).toEqual([]);
    } finally {
      await second?.close();
      await fake.close();
    }
  });

  test('a backfill cut off by a restart goes on from its cursor, threads included, without duplicates', async () => {
    const fake = new FakeSlack();
    await fake.start();
    fake.history.pageSize = 10;
    fake.history.addChannel('CLOG', { name: 'log' });
    // Two threads: one on a page read before the cut (two pages of replies), one on a page after it.
    const threads: Record<number, { ts: string; replies: number }> = {};
    for (let i = 0; i < 95; i++) {
      const line = fake.history.seed('CLOG', 'UALICE', `log line ${i}`);
      const replies = i === 80 ? 15 : i === 20 ? 5 : 0;
      for (let r = 0; r < replies; r++) fake.history.seed('CLOG', 'UBOB', `reply ${r} to line ${i}`, { thread: line.ts });
      if (replies > 0) threads[i] = { ts: line.ts, replies };
    }
    // Slack's rate limiter answers one page with a 429: it is waited out (Retry-After), not an error.
    fake.rateLimit('conversations.history', { times: 1, retryAfterSeconds: 0 });
    const release = fake.history.hold('conversations.history', 3);
    // The Web API client waits a 429 out (hearth's default client retries; the tests' has none unless asked).
    const clientOptions = { retryConfig: { retries: 2, minTimeout: 0, maxTimeout: 0 } };
    const first = await SlackHarness.start({ mode: 'socket', fake, clientOptions, config: knowledgeConfig(['CLOG']) });
    const index = () => first.app.knowledge!.index;
    const ref = { platform: 'slack' as const, workspace: 'T0001', channel: 'CLOG' };
    let second: SlackHarness | undefined;
    try {
      await waitFor('the fourth page asked for', () => fake.state.callsOf('conversations.history').length === 4);
      expect(fake.rateLimited).toEqual(['conversations.history']);
      // Three pages of ten, with the replies of the thread on the second one.
      await waitFor('three pages written', () => index().count(ref) === 30 + 15);
      const cursor = index().channel(ref)?.cursor;
      expect(cursor).toBeDefined();
      await first.close();
      release();
      const calls = fake.state.callsOf('conversations.history').length;
      const repliesBeforeRestart = fake.state.callsOf('conversations.replies').length;

      second = await SlackHarness.start({ mode: 'socket', fake, dataDir: first.dataDir, config: knowledgeConfig(['CLOG']) });
      await second.adapter.knowledge?.backfilled;
      const k = second.app.knowledge!.index;
      const resumed = fake.state.callsOf('conversations.history').slice(calls);
      expect(resumed[0]?.args.cursor).toBe(cursor);
      expect(resumed).toHaveLength(7);
      expect(k.count(ref)).toBe(95 + 15 + 5);
      // Each thread's replies were read in one run only, and are indexed once each.
      const repliesRead = (ts: string): number[] => fake.state.callsOf('conversations.replies').flatMap((c, i) => (c.args.ts === ts ? [i] : []));
      for (const [line, t] of Object.entries(threads)) expect(k.messagesSince(ref, 0).filter((m) => m.threadId === t.ts), `replies to line ${line}`).toHaveLength(t.replies);
      expect(repliesRead(threads[80]!.ts).every((i) => i < repliesBeforeRestart)).toBe(true);
      expect(repliesRead(threads[20]!.ts).every((i) => i >= repliesBeforeRestart)).toBe(true);
      expect(k.channel(ref)).toMatchObject({ backfilledAt: expect.any(Number) as number });
      expect(k.channel(ref)?.cursor).toBeUndefined();
      expect(second.errors).toEqual([]);
    } finally {
      await second?.close();
      await fake.close();
    }
  });
});

