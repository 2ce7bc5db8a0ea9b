/**
 * Workspace knowledge end to end on Discord: the real Discord adapter (discord.js) reads seeded
 * channel histories from the fake Discord (paged GET /channels/{id}/messages, threads active and
 * archived), keeps them current from gateway events, and /ask answers with the relevant messages
 * given to the (simulated) model and listed as Discord message links; a channel is used only for
 * someone whose roles let them read it; a backfill cut off by a restart goes on where it stopped;
 * a 429 is waited out.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { DiscordAdapter } from '../../src/bots/discord/index.js';
import type { SqliteStore } from '../../src/engine/store/sqlite-store.js';
import { EmbedRunner } from '../../src/runners/embed/embed-runner.js';
import { writeTinyEmbedder } from '../fixtures/tiny-embedder.js';
import type { JobRecord } from '../../src/engine/types.js';
import { chatPayloadOf, type ChatPayload } from '../../src/jobs/chat.js';
import { finishedAnswer } from '../fakes/discord/assertions.js';
import { ChannelTypes, FakeDiscord, type FakeChannel, type FakeInteraction, type FakeMessage, type FakeUser } from '../fakes/discord/fake-discord.js';
import { discordHearth, type DiscordHearth } from '../fakes/discord/harness.js';
import { Perm } from '../fakes/discord/history.js';

const FILLER = ['lunch is at noon today', 'the printer on floor 2 jammed again', 'deploy of the api went fine', 'who has the projector remote?', 'standup notes are in the doc', 'coffee machine descaled'];

const FULL_TEXT_ONLY = 'Search by meaning: off: full text only (no models.embedding.dir; `hearth models pull --defaults` downloads one).';

function knowledgeConfig(channels: string[]): Record<string, unknown> {
  return { knowledge: { discordChannels: channels, discordRequestsPerSecond: 50, accessCacheSeconds: 60 } };
}

function adapterOf(h: DiscordHearth): DiscordAdapter {
  return h.app.adapters[0] as DiscordAdapter;
}

function link(fake: FakeDiscord, channel: string, m: FakeMessage): string {
  return `https://discord.com/channels/${fake.guildId}/${channel}/${m.id}`;
}

/** Everything the model was given, as one text. */
function given(p: ChatPayload): string {
  return p.messages.map((m) => m.content).join('\n');
}

describe('Discord workspace knowledge', () => {
  let fake: FakeDiscord;
  let h: DiscordHearth;
  let general: FakeChannel;
  let staffOnly: FakeChannel;
  let alice: FakeUser;
  let bob: FakeUser;
  let sam: FakeUser;
  let admin: FakeUser;
  const seeded: Record<string, FakeMessage> = {};
  let wifiThread: FakeChannel;

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    const hist = fake.history;
    general = fake.channel;
    staffOnly = fake.textChannel('staff-only');
    const other = fake.textChannel('not-indexed');
    alice = fake.user('Alice');
    bob = fake.user('Bob');
    sam = fake.user('Sam');
    admin = fake.user('Ada');
    const staff = hist.addRole('staff');
    hist.join(alice);
    hist.join(bob, [staff]);
    hist.join(sam);
    // #staff-only: hidden from @everyone, open to the staff role and to the bot.
    hist.overwrite(staffOnly, fake.guildId, 'role', { deny: Perm.ViewChannel });
    hist.overwrite(staffOnly, staff, 'role', { allow: Perm.ViewChannel });
    hist.overwrite(staffOnly, fake.bot.id, 'member', { allow: Perm.ViewChannel });
    for (let i = 0; i < 240; i++) hist.seed(general, i % 2 ? alice : bob, `${FILLER[i % FILLER.length]} #${i}`);
    const question = hist.seed(general, alice, 'does anyone know how to get on the network in the lab?');
    wifiThread = hist.thread(general, question, 'lab network', { archived: true });
    seeded.wifi = hist.seed(wifiThread, sam, 'The lab wifi password is hunter2, it rotates every quarter');
    for (let i = 0; i < 40; i++) hist.seed(general, bob, `${FILLER[(i + 3) % FILLER.length]} again #${i}`);
    seeded.standup = hist.seed(general, bob, 'standup is at 10:00 on Mondays from now on');
    seeded.budget = hist.seed(staffOnly, bob, 'the budget code for the offsite is ZEBRA-42');
    hist.seed(other, bob, 'the budget code in another channel is OTTER-7');
    h = await discordHearth({ fake, discord: { guildIds: [fake.guildId], adminUsers: [admin.id] }, config: knowledgeConfig([general.id, staffOnly.id]) });
    await adapterOf(h).knowledge?.backfilled;
  });

  afterAll(async () => {
    await h?.stop();
    await fake?.close();
  });

  afterEach(() => {
    expect(h.reported).toEqual([]);
  });

  /** Asks with /ask and waits for the whole answer; returns the job's payload and the answer's text. */
  async function ask(prompt: string, user: FakeUser, channel = general): Promise<{ payload: ChatPayload; text: string; it: FakeInteraction; job: JobRecord }> {
    const it = fake.slash('ask', { prompt }, { user, channel });
    const text = await fake.waitFor(() => finishedAnswer(fake, it), 'the answer');
    const [job] = h.app.store.listJobs({ userId: `discord:${user.id}`, order: 'recent', limit: 1 });
    const payload = chatPayloadOf(job!);
    if (!payload) throw new Error('not a chat payload');
    return { payload, text, it, job: job! };
  }

  test('the backfill pages through the history and its threads; the right message is cited among many, as a message link', async () => {
    const stats = h.app.knowledge!.index.stats();
    expect(stats.channels.map((c) => [c.channel, c.messages, c.private])).toEqual(
      [[general.id, 283, false], [staffOnly.id, 1, true]].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    // 282 messages in #general at 100 a page: three pages, then the thread's.
    expect(fake.history.reads.filter((r) => r.channel === general.id).length).toBe(3);
    expect(fake.history.reads.some((r) => r.channel === wifiThread.id)).toBe(true);
    // The bot's session asked for the Message Content intent (it reads every message of its channels).
    expect(fake.gateway.intents() & (1 << 15)).not.toBe(0);

    const { payload, text } = await ask("what's the lab wifi password?", alice);
    const url = link(fake, wifiThread.id, seeded.wifi!);
    expect(payload.sources?.[0]).toMatchObject({ url, author: 'Sam', channel: general.id });
    const context = payload.messages.at(-2)?.content ?? '';
    expect(context).toMatch(/\[1\] Sam, \d{4}-\d{2}-\d{2} \(in a thread\): The lab wifi password is hunter2/);
    expect(payload.messages.at(-1)).toEqual({ role: 'user', content: "what's the lab wifi password?" });
    const day = new Date(seeded.wifi!.createdAt).toISOString().slice(0, 10);
    expect(text).toContain(`**Sources:** [1. Sam, ${day}](<${url}>)`);
  });

  test('a channel the asker cannot view is never used or cited; someone whose role opens it gets it', async () => {
    const a = await ask('what is the budget code for the offsite?', alice);
    expect(given(a.payload)).not.toContain('ZEBRA');
    expect(a.payload.sources?.some((s) => s.channel === staffOnly.id) ?? false).toBe(false);
    expect(a.text).not.toContain(staffOnly.id);
    // A channel that is not indexed is never read.
    expect(given(a.payload)).not.toContain('OTTER');

    const b = await ask('what is the budget code for the offsite?', bob);
    expect(given(b.payload)).toContain('ZEBRA-42');
    expect(b.payload.sources?.[0]).toMatchObject({ url: link(fake, staffOnly.id, seeded.budget!), channel: staffOnly.id });
  });

  test('knowledge never crosses servers', async () => {
    const elsewhere = fake.addChannel({ id: '990000000000000001', type: ChannelTypes.GuildText, guild_id: '990000000000000000', name: 'elsewhere' });
    const { payload } = await ask("what's the lab wifi password?", alice, elsewhere);
    expect(payload.sources).toBeUndefined();
    expect(given(payload)).not.toContain('hunter2');
  });

  test('an edited or deleted message changes what is found; a new message is found', async () => {
    const index = h.app.knowledge!.index;
    const ref = { platform: 'discord' as const, workspace: fake.guildId, channel: general.id };
    const standup = seeded.standup!;
    fake.history.edit(standup, 'standup moved to 9:15 on Tuesdays');
    await fake.waitFor(() => index.get(ref, standup.id)?.text.includes('Tuesdays'), 'the edit indexed');
    const edited = await ask('when is standup?', alice);
    expect(given(edited.payload)).toContain('standup moved to 9:15 on Tuesdays');
    expect(given(edited.payload)).not.toContain('Mondays');

    fake.history.remove(standup);
    await fake.waitFor(() => index.get(ref, standup.id) === undefined, 'the deletion indexed');
    const added = fake.say(general, sam, 'the parking garage code is 4711');
    await fake.waitFor(() => index.get(ref, added.id), 'the new message indexed');

    // A message in a thread goes with its channel, linked in the thread.
    const inThread = fake.say(wifiThread, sam, 'the guest network is called lab-guest');
    await fake.waitFor(() => index.get(ref, inThread.id), 'the thread message indexed');
    expect(index.get(ref, inThread.id)).toMatchObject({ threadId: wifiThread.id, permalink: link(fake, wifiThread.id, inThread) });

    const after = await ask('when is standup? and the parking garage code?', alice);
    expect(given(after.payload)).not.toContain('Tuesdays');
    expect(after.payload.sources?.map((s) => s.url)).toContain(link(fake, general.id, added));
    expect(after.payload.sources?.map((s) => s.url)).not.toContain(link(fake, general.id, standup));
  });

  test('a mention in a hearth thread is answered from the knowledge too; the question itself is not indexed', async () => {
    const thread = fake.addChannel({ id: '980000000000000001', type: ChannelTypes.PublicThread, guild_id: fake.guildId, parent_id: general.id, owner_id: fake.bot.id, name: 'hearth' });
    const m = fake.say(thread, bob, "what's the lab wifi password?", { mention: true });
    const reply = await fake.waitFor(() => [...fake.state.messages.values()].find((r) => r.replyTo === m.id && r.content.includes('**Sources:**')), 'the answer with sources');
    expect(reply.content).toContain(`(<${link(fake, wifiThread.id, seeded.wifi!)}>)`);
    const [job] = h.app.store.listJobs({ userId: `discord:${bob.id}`, order: 'recent', limit: 1 });
    expect(chatPayloadOf(job!)?.sources?.[0]?.url).toBe(link(fake, wifiThread.id, seeded.wifi!));
    // Said after the question in the same thread, a message without a mention is indexed; the question is not.
    const ref = { platform: 'discord' as const, workspace: fake.guildId, channel: general.id };
    const plain = fake.say(thread, bob, 'noted, thanks');
    await fake.waitFor(() => h.app.knowledge!.index.get(ref, plain.id), 'the plain message indexed');
    expect(h.app.knowledge!.index.get(ref, m.id)).toBeUndefined();
  });

  /** The private answer to an admin command. */
  async function hearth(command: string, user: FakeUser, options: Record<string, string> = {}): Promise<string> {
    const it = fake.slash(command, options, { user });
    const m = await fake.waitFor(() => {
      const o = fake.original(it);
      return o && o.content !== '' ? o : undefined;
    }, `the answer to /${command}`);
    return m.content;
  }

  test('/hearth knowledge status shows admins what is indexed; drop forgets a channel; others are refused', async () => {
    expect(await hearth('hearth knowledge status', alice)).toMatch(/^⚠️ You can't do that: only hearth admins/);
    const status = await hearth('hearth knowledge status', admin);
    const index = h.app.knowledge!.index;
    const generalCount = index.count({ platform: 'discord', workspace: fake.guildId, channel: general.id });
    expect(status).toMatch(new RegExp(`^\\*\\*Workspace knowledge: ${generalCount + 1} messages in 2 channels, last synced [^*\n]+\\*\\*\n`));
    // No embedding model configured: full text only, and no vector counts.
    expect(status.split('\n')[1]).toBe(FULL_TEXT_ONLY);
    expect(status).not.toContain('with vectors');
    expect(status).toContain(`• <#${general.id}>: ${generalCount} messages, history read`);
    expect(status).toContain(`• <#${staffOnly.id}>: 1 message, history read`);
    expect(status).toContain('(private)');
    // The command is registered as Discord wants it (a subcommand group with a channel option).
    expect(fake.state.refused).toEqual([]);

    expect(await hearth('hearth knowledge drop', alice, { channel: staffOnly.id })).toMatch(/^⚠️ You can't do that/);
    expect(index.count({ platform: 'discord', workspace: fake.guildId, channel: staffOnly.id })).toBe(1);
    const dropped = await hearth('hearth knowledge drop', admin, { channel: staffOnly.id });
    expect(dropped).toMatch(new RegExp(`^Dropped <#${staffOnly.id}> from the index \\(1 message\\)\\. It is still in the config`));
    expect(index.count({ platform: 'discord', workspace: fake.guildId, channel: staffOnly.id })).toBe(0);
    const b = await ask('what is the budget code for the offsite?', bob);
    expect(given(b.payload)).not.toContain('ZEBRA');
    const after = await hearth('hearth knowledge status', admin);
    expect(after).not.toContain(staffOnly.id);
    expect(await hearth('hearth knowledge drop', admin, { channel: staffOnly.id })).toMatch(/^⚠️ Channel \d+ is not in this workspace's index; indexed here: /);
  });
});

describe('Discord workspace knowledge with search by meaning', () => {
  test('the status shows the model and vectors per channel; a message found only by meaning is cited; never a hidden channel’s', async () => {
    const root = mkdtempSync(join(tmpdir(), 'hearth-discord-sem-'));
    const { dir } = await writeTinyEmbedder(join(root, 'tiny-bert'));
    const fake = await FakeDiscord.start();
    const hist = fake.history;
    const general = fake.channel;
    const staffOnly = fake.textChannel('staff-only');
    const alice = fake.user('Alice');
    const bob = fake.user('Bob');
    const admin = fake.user('Ada');
    const staff = hist.addRole('staff');
    hist.join(alice);
    hist.join(bob, [staff]);
    hist.overwrite(staffOnly, fake.guildId, 'role', { deny: Perm.ViewChannel });
    hist.overwrite(staffOnly, staff, 'role', { allow: Perm.ViewChannel });
    hist.overwrite(staffOnly, fake.bot.id, 'member', { allow: Perm.ViewChannel });
    // Filler that shares no word (and no meaning, to the tiny model) with the question.
    const filler = ['pizza for lunch today', 'the printer needs toner', 'parking garage is full', 'deploy the release on monday', 'office room booked'];
    for (let i = 0; i < 120; i++) hist.seed(general, bob, `${filler[i % filler.length]} (${i})`);
    const wifi = hist.seed(general, bob, 'The wireless passphrase is hunter2');
    hist.seed(staffOnly, bob, 'The internet passcode for the vault is 0000');
    const runner = new EmbedRunner({ model: 'embedding', dir, providers: ['cpu'], cacheDir: join(root, 'cache'), threads: 1 }, { log: () => undefined });
    const h = await discordHearth({
      fake,
      discord: { guildIds: [fake.guildId], adminUsers: [admin.id] },
      runners: [runner],
      config: { ...knowledgeConfig([general.id, staffOnly.id]), models: { chat: { path: join(root, 'sim.gguf') }, embedding: { dir, batchSize: 16 } } },
    });
    try {
      await adapterOf(h).knowledge?.backfilled;
      const db = (h.app.store as SqliteStore).database;
      const waiting = (): number => db.prepare<[], { n: number }>('SELECT count(*) AS n FROM knowledge_embed_queue').get()!.n;
      await fake.waitFor(() => waiting() === 0, 'every message embedded');

      const it = fake.slash('hearth knowledge status', {}, { user: admin });
      const status = (await fake.waitFor(() => {
        const o = fake.original(it);
        return o && o.content !== '' ? o : undefined;
      }, 'the status')).content;
      expect(status.split('\n')[1]).toBe(`Search by meaning: on, with tiny-bert (${dir}): all 122 messages have vectors.`);
      expect(status).toContain(`• <#${general.id}>: 121 messages, 121 with vectors, history read`);
      expect(status).toContain(`• <#${staffOnly.id}>: 1 message, 1 with vectors, history read`);

      // Neither "wifi" nor "password" is in any message: full text finds nothing, meaning finds it.
      const ask = async (): Promise<ChatPayload> => {
        const q = fake.slash('ask', { prompt: "what's the wifi password?" }, { user: alice, channel: general });
        await fake.waitFor(() => finishedAnswer(fake, q), 'the answer');
        const [job] = h.app.store.listJobs({ userId: `discord:${alice.id}`, order: 'recent', limit: 1 });
        const payload = chatPayloadOf(job!);
        if (!payload) throw new Error('not a chat payload');
        return payload;
      };
      const payload = await ask();
      expect(payload.sources?.[0]?.url).toBe(link(fake, general.id, wifi));
      expect(given(payload)).toContain('hunter2');
      // The hidden channel's near-synonym is never given to someone who cannot view it.
      expect(given(payload)).not.toContain('vault');
      expect(payload.sources?.some((s) => s.channel === staffOnly.id) ?? false).toBe(false);

      // Edited: its old vector goes at once, and the model is no longer given the old text.
      hist.edit(wifi, 'the coffee machine was descaled');
      const ref = { platform: 'discord' as const, workspace: fake.guildId, channel: general.id };
      await fake.waitFor(() => h.app.knowledge!.index.get(ref, wifi.id)?.text.includes('coffee') && waiting() === 0, 'the edit embedded');
      expect(given(await ask())).not.toContain('hunter2');
      expect(h.reported).toEqual([]);
    } finally {
      await h.stop();
      await fake.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('Discord knowledge backfill across a restart', () => {
  test('a channel the bot may not view is reported with what to do about it; the others are read', async () => {
    const fake = await FakeDiscord.start();
    const open = fake.textChannel('open');
    const closed = fake.textChannel('closed');
    fake.history.overwrite(closed, fake.guildId, 'role', { deny: Perm.ViewChannel });
    const ada = fake.user('Ada');
    fake.history.seed(open, ada, 'the kettle is in the cupboard');
    fake.history.seed(closed, ada, 'secret plans');
    const h = await discordHearth({ fake, config: knowledgeConfig([closed.id, open.id]) });
    try {
      await adapterOf(h).knowledge?.backfilled;
      expect(h.reported).toEqual([
        { where: `knowledge: reading the history of Discord channel ${closed.id}`, message: `Discord refused to show channel ${closed.id} (Missing Access): give the bot View Channel and Read Message History there` },
      ]);
      expect(h.app.knowledge!.index.stats().channels.map((c) => [c.channel, c.messages, c.backfilledAt !== undefined])).toEqual(
        [[closed.id, 0, false], [open.id, 1, true]].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      );
    } finally {
      await h.stop();
      await fake.close();
    }
  });

  test('a backfill cut off inside a thread goes on in that thread at the next start: no page read twice, nothing missing or doubled', async () => {
    const fake = await FakeDiscord.start();
    const log = fake.textChannel('log');
    const ada = fake.user('Ada');
    fake.history.join(ada);
    const lines = Array.from({ length: 150 }, (_, i) => fake.history.seed(log, ada, `log line ${i}`));
    // Three archived threads of 150 messages each: two pages apiece, read oldest thread first.
    const threads = [10, 20, 30].map((at, n) => {
      const t = fake.history.thread(log, lines[at]!, `thread ${n}`, { archived: true });
      for (let i = 0; i < 150; i++) fake.history.seed(t, ada, `thread ${n} reply ${i}`);
      return t;
    });
    // The channel's two pages and the first thread's first page, then the rest waits.
    const release = fake.history.hold(3);
    const ref = { platform: 'discord' as const, workspace: fake.guildId, channel: log.id };
    const inThread = (k: DiscordHearth, t: FakeChannel): number => k.app.knowledge!.index.messagesSince(ref, 0).filter((m) => m.threadId === t.id).length;
    const first = await discordHearth({ fake, config: knowledgeConfig([log.id]) });
    let second: DiscordHearth | undefined;
    try {
      await fake.waitFor(() => fake.history.reads.length === 4, 'the first thread’s second page asked for');
      await fake.waitFor(() => first.app.knowledge!.index.count(ref) === 250, 'the channel and one thread page written');
      const cursor = first.app.knowledge!.index.channel(ref)?.cursor;
      expect(cursor).toMatch(new RegExp(`^thread:${threads[0]!.id}:\\d+$`));
      await first.stop();
      release();
      const reads = fake.history.reads.length;

      second = await discordHearth({ fake, dataDir: first.dataDir, config: knowledgeConfig([log.id]) });
      await adapterOf(second).knowledge?.backfilled;
      const resumed = fake.history.reads.slice(reads);
      // On from the cut: the first thread from where it stopped, then the other two; never the channel again.
      expect(resumed.map((r) => [r.channel, r.before !== undefined])).toEqual([
        [threads[0]!.id, true],
        [threads[1]!.id, false],
        [threads[1]!.id, true],
        [threads[2]!.id, false],
        [threads[2]!.id, true],
      ]);
      expect(resumed[0]?.before).toBe(cursor!.split(':')[2]);
      const k = second.app.knowledge!.index;
      expect(k.count(ref)).toBe(600);
      for (const t of threads) expect(inThread(second, t)).toBe(150);
      expect(k.channel(ref)).toMatchObject({ backfilledAt: expect.any(Number) as number });
      expect(k.channel(ref)?.cursor).toBeUndefined();
      expect(first.reported).toEqual([]);
      expect(second.reported).toEqual([]);
    } finally {
      await second?.stop();
      await fake.close();
    }
  });

  test('a backfill cut off by a restart goes on from its cursor, without duplicates; a 429 is waited out', async () => {
    const fake = await FakeDiscord.start();
    const log = fake.textChannel('log');
    const ada = fake.user('Ada');
    fake.history.join(ada);
    const lines = Array.from({ length: 350 }, (_, i) => fake.history.seed(log, ada, `log line ${i}`));
    // Discord's rate limiter answers one page with a 429: it is waited out (Retry-After), not an error.
    fake.rateLimit(/^\/channels\/\d+\/messages$/, { method: 'GET', times: 1, retryAfterSeconds: 0.3 });
    const release = fake.history.hold(3);
    const ref = { platform: 'discord' as const, workspace: fake.guildId, channel: log.id };
    const first = await discordHearth({ fake, config: knowledgeConfig([log.id]) });
    let second: DiscordHearth | undefined;
    let third: DiscordHearth | undefined;
    try {
      await fake.waitFor(() => fake.history.reads.length === 4, 'the fourth page asked for');
      expect(fake.state.rateLimited).toEqual([`GET /channels/${log.id}/messages`]);
      // The page was asked for again only once the wait Discord named had passed.
      expect(fake.history.reads[0]!.at - fake.state.rateLimitedAt[0]!).toBeGreaterThanOrEqual(300);
      const index = first.app.knowledge!.index;
      await fake.waitFor(() => index.count(ref) === 300, 'three pages written');
      const cursor = index.channel(ref)?.cursor;
      expect(cursor).toMatch(/^before:\d+$/);
      await first.stop();
      release();
      const reads = fake.history.reads.length;

      second = await discordHearth({ fake, dataDir: first.dataDir, config: knowledgeConfig([log.id]) });
      await adapterOf(second).knowledge?.backfilled;
      const k = second.app.knowledge!.index;
      const resumed = fake.history.reads.slice(reads);
      expect(resumed[0]?.before).toBe(cursor!.slice('before:'.length));
      expect(resumed.filter((r) => r.channel === log.id)).toHaveLength(1);
      expect(k.count(ref)).toBe(350);
      expect(k.channel(ref)).toMatchObject({ backfilledAt: expect.any(Number) as number });
      expect(k.channel(ref)?.cursor).toBeUndefined();
      expect(first.reported).toEqual([]);
      expect(second.reported).toEqual([]);

      // Said while hearth was down: the next start catches up from the newest message read, not from the
      // start; deleted while it was down: the catch-up reads the newest messages again and drops it.
      const synced = k.channel(ref)?.syncedUntil;
      expect(synced).toBeDefined();
      await second.stop();
      const missed = fake.history.seed(log, ada, 'said while hearth was away');
      fake.history.remove(lines[300]!);
      const before = fake.history.reads.length;
      third = await discordHearth({ fake, dataDir: first.dataDir, config: knowledgeConfig([log.id]) });
      await adapterOf(third).knowledge?.backfilled;
      const caughtUp = fake.history.reads.slice(before);
      expect(caughtUp[0]).toEqual(expect.objectContaining({ channel: log.id, after: synced }));
      // Then the newest pages again (all 350 here: fewer than the reconcile's 1000), never from the start by `after`.
      expect(caughtUp.filter((r) => r.after !== undefined)).toHaveLength(1);
      expect(caughtUp.length).toBeLessThanOrEqual(1 + 4);
      const k3 = third.app.knowledge!.index;
      expect(k3.get(ref, lines[300]!.id)).toBeUndefined();
      expect(k3.get(ref, lines[299]!.id)?.text).toBe('log line 299');
      expect(k3.count(ref)).toBe(350);
      expect(k3.get(ref, missed.id)?.text).toBe('said while hearth was away');
      expect(k3.channel(ref)?.syncedUntil).toBe(missed.id);
      expect(third.reported).toEqual([]);
    } finally {
      await third?.stop();
      await second?.stop();
      await fake.close();
    }
  });
});
