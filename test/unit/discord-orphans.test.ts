/**
 * The search for a Discord message a kill -9 left behind (src/bots/discord/orphans.ts), on its own:
 * hearth's REST client (discord.js) reading the fake Discord's channel history as Discord serves it.
 * A follow-up is matched by the interaction it belongs to, exactly; a channel message by being the
 * bot's own plain message, newer than the intent, older than this process, owned by no job; the
 * pages read are bounded, and the error names the bound.
 */
import { DiscordAPIError, REST } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobView } from '../../src/bots/discord/job-view.js';
import type { DiscordOrigin } from '../../src/bots/discord/origin.js';
import type { JobEvent, JobRecord } from '../../src/engine/types.js';
import { emptyView, reduceJobView, type JobViewModel } from '../../src/views/job-view-model.js';
import { CLOCK_MARGIN_MS, findOrphans, newestId, ORPHAN_SEARCH_PAGES, snowflakeAt, type OrphanSearch } from '../../src/bots/discord/orphans.js';
import { DiscordRest } from '../../src/bots/discord/rest-client.js';
import { FakeDiscord, type FakeInteraction } from '../fakes/discord/fake-discord.js';
import { Perm } from '../fakes/discord/history.js';

let fake: FakeDiscord;
let rest: DiscordRest;
const shutdown = new AbortController();

beforeAll(async () => {
  fake = await FakeDiscord.start();
  rest = new DiscordRest(new REST({ api: fake.apiBaseUrl, globalRequestsPerSecond: 10_000 }).setToken(fake.token), fake.applicationId, shutdown.signal);
  await rest.putCommands([{ name: 'ask', description: 'Ask', type: 1, options: [{ name: 'prompt', description: 'The question', type: 3, required: true }] }]);
});

afterAll(async () => {
  shutdown.abort();
  await fake.close();
});

/** A slash command in `channel`, deferred and its reply edited, as hearth answers one. */
async function answered(channel = fake.channel): Promise<FakeInteraction> {
  const it = fake.slash('ask', { prompt: 'a question' }, { channel });
  await rest.respond(it.id, it.token, { type: 5 });
  await rest.editOriginal(it.token, { content: 'Thinking…' });
  return it;
}

const search = (over: Partial<OrphanSearch> & Pick<OrphanSearch, 'via' | 'channelId' | 'after'>): OrphanSearch => ({ botUserId: fake.bot.id, owned: () => false, ...over });

describe('findOrphans', () => {
  it('finds a follow-up by its interaction only: not the reply, not one a job owns, not another interaction’s, not an ephemeral one', async () => {
    const someone = fake.user('someone');
    const it = await answered();
    const other = await answered();
    const owned = await rest.followup(it.token, { content: 'part 2, stored with its job' });
    fake.say(fake.channel, someone, 'a person talks meanwhile');
    await rest.followup(other.token, { content: 'another answer’s part 2' });
    await rest.send(fake.channel.id, { content: 'the bot’s plain message' });
    const orphan = await rest.followup(it.token, { content: 'part 3, its reply never stored ▌' });
    await rest.followup(it.token, { content: 'only the asker sees this', ephemeral: true });

    const found = await findOrphans(rest, search({ via: 'interaction', channelId: fake.channel.id, after: it.id, interactionId: it.id, owned: (_c, id) => id === owned.id }));
    expect(found).toEqual([orphan.id]);
    // The reply was read too (it is the interaction's, newer than it) and left: it is no follow-up.
    expect(BigInt(fake.original(it)!.id)).toBeGreaterThan(BigInt(it.id));
    expect(fake.original(it)!.deleted).toBe(false);
    // Nothing at or before `after` is looked at.
    expect(await findOrphans(rest, search({ via: 'interaction', channelId: fake.channel.id, after: orphan.id, interactionId: it.id }))).toEqual([]);
  });

  it('finds the bot’s plain channel messages newer than the intent and older than this process, that no job owns', async () => {
    const room = fake.textChannel('room');
    const someone = fake.user('talker');
    const mark = fake.say(room, someone, 'before the intent').id;
    const owned = await rest.send(room.id, { content: 'another job’s part, stored' });
    const asked = fake.say(room, someone, '@hearth a question');
    await rest.send(room.id, { content: 'a reply to a mention', replyTo: asked.id });
    const it = await answered(room);
    await rest.followup(it.token, { content: 'an interaction’s follow-up' });
    const orphan = await rest.send(room.id, { content: 'part 2, its reply never stored' });
    const startedAt = Date.now() + 5;
    await new Promise((r) => setTimeout(r, 10));
    await rest.send(room.id, { content: 'made by the restarted process' });

    const found = await findOrphans(rest, search({ via: 'channel', channelId: room.id, after: mark, before: snowflakeAt(startedAt), owned: (_c, id) => id === owned.id }));
    expect(found).toEqual([orphan.id]);
    // Without the upper bound, the new process's own message would be taken too.
    expect(await findOrphans(rest, search({ via: 'channel', channelId: room.id, after: mark, owned: (_c, id) => id === owned.id }))).toHaveLength(2);
  });

  it('reads page after page (100 a page, each after the newest of the last), and refuses past the bound naming it', async () => {
    const busy = fake.textChannel('busy');
    const someone = fake.user('chatty');
    const mark = fake.say(busy, someone, 'the mark').id;
    for (let i = 0; i < 250; i++) fake.say(busy, someone, `message ${i}`);
    const orphan = await rest.send(busy.id, { content: 'the left-behind part' });
    const reads = fake.history.reads.length;
    expect(await findOrphans(rest, search({ via: 'channel', channelId: busy.id, after: mark }))).toEqual([orphan.id]);
    const made = fake.history.reads.slice(reads);
    expect(made.map((r) => r.limit)).toEqual([100, 100, 100]);
    expect(made[0]!.after).toBe(mark);
    // Each page starts after the newest message of the one before.
    expect(new Set(made.map((r) => r.after)).size).toBe(3);

    for (let i = 0; i < ORPHAN_SEARCH_PAGES * 100; i++) fake.say(busy, someone, `more ${i}`);
    await expect(findOrphans(rest, search({ via: 'channel', channelId: busy.id, after: mark }))).rejects.toThrow(
      new RegExp(`channel ${busy.id} has more messages after ${mark} than the search reads: looked at 1000 in ${ORPHAN_SEARCH_PAGES} pages, the most allowed`),
    );
  });

  it('gives Discord’s Missing Access when the bot cannot view the channel', async () => {
    const hidden = fake.textChannel('hidden');
    fake.history.overwrite(hidden, fake.guildId, 'role', { deny: Perm.ViewChannel });
    const err = await findOrphans(rest, search({ via: 'channel', channelId: hidden.id, after: '0' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiscordAPIError);
    expect(err).toMatchObject({ status: 403, code: 50001 });
  });
});

describe('the snowflakes an intent is made of', () => {
  it('orders ids as numbers, ignores what is not one, and makes the smallest id of a moment', () => {
    expect(newestId(['9', '@original', undefined, '10'])).toBe('10');
    expect(newestId(['@original'])).toBeUndefined();
    const now = Date.now();
    const before = snowflakeAt(now - CLOCK_MARGIN_MS);
    const id = fake.state.ids.next(now);
    expect(BigInt(before) < BigInt(id)).toBe(true);
    expect(BigInt(snowflakeAt(now + 1)) > BigInt(id)).toBe(true);
  });
});

/** Feeds a chat job's events to a view as the shared views do (one model, reduced event by event). */
function play(view: JobView, events: JobEvent[]): void {
  const job: JobRecord = {
    id: 'job-1', seq: 1, kind: 'chat', model: 'chat', userId: 'discord:42', payload: { question: 'q' }, origin: null, conversationId: null,
    weight: 1, state: 'running', attempts: 2, crashes: 0, estimateSeconds: 1, usedSeconds: 0, createdAt: 0, startedAt: null, finishedAt: null, result: null, error: null,
    admin: false, deliveredAt: null,
  };
  let model: JobViewModel = emptyView();
  for (const e of events) {
    const previous = model;
    model = reduceJobView(previous, { id: job.id, kind: 'chat', role: 'main', userId: job.userId }, e);
    view.show({ key: 'k', origin: view.origin, view: model, previous, job, event: e });
  }
}

const originOf = (it: FakeInteraction, posting: DiscordOrigin['posting']): DiscordOrigin => ({
  platform: 'discord', command: 'ask', userId: it.userId, channelId: it.channelId, guildId: it.guildId, ephemeral: false,
  interaction: { id: it.id, token: it.token, applicationId: fake.applicationId, createdAt: Date.now() },
  ...(posting ? { posting } : {}),
});

describe('a view after a restart, with the intent its killed run stored', () => {
  it('removes the follow-up the killed run made before answering again, and answers once', async () => {
    const it = await answered();
    const orphan = await rest.followup(it.token, { content: 'the first attempt’s part 2 ▌' });
    const reported: unknown[] = [];
    const origin = originOf(it, { via: 'interaction', channelId: it.channelId, after: it.id });
    const view = new JobView(origin, { rest, intervalMs: 5, tokenLifetimeMs: 60_000, now: Date.now, report: (e) => reported.push(e), startedAt: Date.now() });
    view.lookForLeftBehind(origin.posting!);
    play(view, [{ type: 'started', attempt: 2 }, { type: 'result', result: { text: 'the answer, once' } }]);
    await view.done;
    expect(fake.state.messages.get(orphan.id)!.deleted).toBe(true);
    expect(fake.original(it)!.content).toBe('the answer, once');
    expect(fake.followups(it).filter((m) => !m.deleted)).toEqual([]);
    expect(reported).toEqual([]);
  });

  it('tells once that the channel cannot be read, and still answers', async () => {
    const hidden = fake.textChannel('hidden-from-the-bot');
    fake.history.overwrite(hidden, fake.guildId, 'role', { deny: Perm.ViewChannel });
    const it = await answered(hidden);
    const failed: Array<{ channel: string; error: unknown }> = [];
    const origin = originOf(it, { via: 'channel', channelId: hidden.id, after: it.id });
    const view = new JobView(origin, {
      rest, intervalMs: 5, tokenLifetimeMs: 60_000, now: Date.now, report: (e) => failed.push({ channel: 'report', error: e }),
      searchFailed: (channel, error) => failed.push({ channel, error }),
    });
    view.lookForLeftBehind(origin.posting!);
    view.lookForLeftBehind(origin.posting!);
    play(view, [{ type: 'started', attempt: 2 }, { type: 'result', result: { text: 'answered anyway' } }]);
    await view.done;
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ channel: hidden.id, error: { status: 403, code: 50001 } });
    expect(fake.original(it)!.content).toBe('answered anyway');
  });
});
