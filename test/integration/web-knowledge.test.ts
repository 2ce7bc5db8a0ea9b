/**
 * Workspace knowledge on the web console: one hearth with the real Slack, Discord and web adapters
 * (fake Slack and fake Discord with seeded histories, a simulated GPU). The console has no platform
 * identity, so it is answered only from the indexed channels `knowledge.console` names, and from none
 * when it names none; its answers' sources reach the page through the session's event stream as
 * numbered labels with Slack permalinks and Discord message links.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { HearthApp } from '../../src/app/hearth-app.js';
import { DiscordAdapter } from '../../src/bots/discord/index.js';
import { createSlackAdapter, type SlackAdapter } from '../../src/bots/slack/index.js';
import { createWebAdapter, type WebAdapter } from '../../src/bots/web/index.js';
import type { JobView } from '../../src/bots/web/job-tracker.js';
import { chatPayloadOf, type ChatPayload } from '../../src/jobs/chat.js';
import { ftsQuery } from '../../src/knowledge/fts-query.js';
import { ConsoleClient } from '../browser/support/http-client.js';
import { FakeDiscord, type FakeChannel, type FakeMessage } from '../fakes/discord/fake-discord.js';
import { Perm } from '../fakes/discord/history.js';
import { FakeSlack } from '../fakes/slack/fake-slack.js';
import { SlackHarness } from '../fakes/slack/harness.js';
import { permalinkOf } from '../fakes/slack/history.js';
import { simApp } from '../helpers/sim-app.js';

const FILLER = ['lunch is at noon today', 'the printer on floor 2 jammed again', 'deploy of the api went fine', 'who has the projector remote?', 'coffee machine descaled'];

interface Running {
  app: HearthApp;
  web: WebAdapter;
  dataDir: string;
  errors: string[];
  close(): Promise<void>;
}

const day = (at: number): string => new Date(at).toISOString().slice(0, 10);

describe('workspace knowledge on the web console', () => {
  let slack: FakeSlack;
  let discord: FakeDiscord;
  let general: FakeChannel;
  let staffOnly: FakeChannel;
  const seeded: { wifi?: ReturnType<FakeSlack['history']['seed']>; budget?: ReturnType<FakeSlack['history']['seed']>; door?: FakeMessage; alarm?: FakeMessage } = {};
  let h: Running | undefined;

  /** A hearth with all three faces over the seeded fakes, its backfills done. */
  async function start(console: Record<string, string[]> | undefined, dataDir?: string): Promise<Running> {
    let slackAdapter: SlackAdapter | undefined;
    let discordAdapter: DiscordAdapter | undefined;
    let web: WebAdapter | undefined;
    const errors: string[] = [];
    const { app, dataDir: dir } = await simApp({
      config: {
        slack: SlackHarness.slackConfig(slack, 'socket'),
        discord: { token: discord.token, applicationId: discord.applicationId, apiBaseUrl: discord.apiBaseUrl, guildIds: [discord.guildId] },
        web: { port: 0 },
        knowledge: {
          slackChannels: ['CGEN', 'CPRIV'],
          discordChannels: [general.id, staffOnly.id],
          slackRequestsPerMinute: 1000,
          discordRequestsPerSecond: 50,
          ...(console ? { console } : {}),
        },
      },
      adapters: [
        (ctx) => (slackAdapter = createSlackAdapter(ctx, { host: '127.0.0.1', clientOptions: { retryConfig: { retries: 0 } } })),
        (ctx) => (discordAdapter = new DiscordAdapter(ctx, { rest: { globalRequestsPerSecond: 10_000 }, closeTimeoutMs: 2000 })),
        (ctx) => (web = createWebAdapter(ctx)),
      ],
      ...(dataDir ? { dataDir } : {}),
    });
    const report = app.reportError.bind(app);
    app.reportError = (e: unknown, where: string) => {
      errors.push(`${where}: ${e instanceof Error ? e.message : String(e)}`);
      report(e, where);
    };
    await app.start();
    await slackAdapter!.knowledge?.backfilled;
    await discordAdapter!.knowledge?.backfilled;
    return {
      app, web: web!, dataDir: dir, errors,
      close: async () => {
        await app.close();
        app.store.close();
      },
    };
  }

  /** Asks on the console and returns the card the page was sent once the answer ended, and what the model was given. */
  async function ask(prompt: string, ref: string): Promise<{ card: JobView; payload: ChatPayload; given: string }> {
    const c = await new ConsoleClient(h!.web.url()).visit();
    const events = await c.events();
    try {
      const asked = await c.post('/api/ask', { prompt, ref });
      expect(asked.status, JSON.stringify(asked.json)).toBe(200);
      const card = await events.card(ref);
      expect(card.state).toBe('done');
      const job = h!.app.store.getJob(asked.json.jobId as string);
      const payload = job ? chatPayloadOf(job) : undefined;
      if (!payload) throw new Error('not a chat payload');
      return { card, payload, given: payload.messages.map((m) => m.content).join('\n') };
    } finally {
      events.close();
    }
  }

  beforeAll(async () => {
    slack = new FakeSlack();
    await slack.start();
    slack.history.pageSize = 50;
    slack.history.addChannel('CGEN', { name: 'general', members: ['UALICE', 'USAM'] });
    slack.history.addChannel('CPRIV', { name: 'finance', private: true, members: ['UBOB'] });
    for (const [id, name] of [['UALICE', 'Alice'], ['UBOB', 'Bob'], ['USAM', 'Sam']] as const) slack.history.addUser(id, name);
    for (let i = 0; i < 120; i++) slack.history.seed('CGEN', i % 2 ? 'UALICE' : 'USAM', `${FILLER[i % FILLER.length]} #${i}`);
    seeded.wifi = slack.history.seed('CGEN', 'USAM', 'The lab wifi password is hunter2, it rotates every quarter');
    seeded.budget = slack.history.seed('CPRIV', 'UBOB', 'the budget code for the offsite is ZEBRA-42');

    discord = await FakeDiscord.start();
    general = discord.channel;
    staffOnly = discord.textChannel('staff-only');
    const alice = discord.user('Alice');
    const bob = discord.user('Bob');
    discord.history.join(alice);
    discord.history.join(bob);
    discord.history.overwrite(staffOnly, discord.guildId, 'role', { deny: Perm.ViewChannel });
    discord.history.overwrite(staffOnly, discord.bot.id, 'member', { allow: Perm.ViewChannel });
    for (let i = 0; i < 120; i++) discord.history.seed(general, i % 2 ? alice : bob, `${FILLER[(i + 2) % FILLER.length]} #${i}`);
    seeded.door = discord.history.seed(general, alice, 'the workshop door code is 4711, ask Bob for the key otherwise');
    seeded.alarm = discord.history.seed(staffOnly, bob, 'the alarm code for the server room is 9090');
  });

  afterEach(() => {
    expect(h?.errors ?? []).toEqual([]);
  });

  afterAll(async () => {
    await h?.close();
    await slack?.close();
    await discord?.close();
  });

  test('a configured channel is cited on the console, as a Slack permalink or a Discord message link', async () => {
    h = await start({ slackChannels: ['CGEN'], discordChannels: [general.id] });
    const stats = h.app.knowledge!.index.stats();
    expect(stats.channels.map((c) => `${c.platform}:${c.channel}:${c.messages}`).sort()).toEqual(
      [`slack:CGEN:121`, `slack:CPRIV:1`, `discord:${general.id}:121`, `discord:${staffOnly.id}:1`].sort(),
    );

    const wifi = await ask("what's the lab wifi password?", 'wifi');
    const url = permalinkOf(seeded.wifi!);
    expect(wifi.payload.sources?.[0]).toMatchObject({ url, author: 'Sam', channel: 'CGEN' });
    expect(wifi.payload.messages.at(-2)?.content).toMatch(/\[1\] Sam, \d{4}-\d{2}-\d{2}: The lab wifi password is hunter2/);
    // What the page is sent: the answer, then its sources numbered as the model was given them.
    expect(wifi.card.sources?.[0]).toEqual({ label: `1. Sam, ${day(wifi.payload.sources![0]!.at)}`, url });
    expect(wifi.card.sources).toHaveLength(wifi.payload.sources!.length);

    const door = await ask('what is the workshop door code?', 'door');
    const link = `https://discord.com/channels/${discord.guildId}/${general.id}/${seeded.door!.id}`;
    expect(door.payload.sources?.[0]).toMatchObject({ url: link, author: 'Alice', channel: general.id });
    expect(door.card.sources?.[0]).toEqual({ label: `1. Alice, ${day(door.payload.sources![0]!.at)}`, url: link });
    expect(door.given).toContain('4711');
  });

  test('an indexed channel the console is not given is never used or cited', async () => {
    const budget = await ask('what is the budget code for the offsite?', 'budget');
    expect(budget.given).not.toContain('ZEBRA');
    expect(budget.payload.sources?.some((s) => s.channel === 'CPRIV') ?? false).toBe(false);
    expect(JSON.stringify(budget.card)).not.toContain('ZEBRA');

    const alarm = await ask('what is the alarm code for the server room?', 'alarm');
    expect(alarm.given).not.toContain('9090');
    expect(alarm.payload.sources?.some((s) => s.channel === staffOnly.id) ?? false).toBe(false);
    // Both are indexed and found for these very questions, where a search may look at their channels.
    const index = h!.app.knowledge!.index;
    const found = (q: string, platform: 'slack' | 'discord', workspace: string, channel: string): string[] =>
      index.search(ftsQuery(q), { platform, workspace, channels: [channel] }, 5).map((m) => m.messageId);
    expect(found('what is the alarm code for the server room?', 'discord', discord.guildId, staffOnly.id)).toEqual([seeded.alarm!.id]);
    expect(found('what is the budget code for the offsite?', 'slack', 'T0001', 'CPRIV')).toEqual([seeded.budget!.ts]);
  });

  test('with no console channels configured, the console never uses or cites an indexed message', async () => {
    const dataDir = h!.dataDir;
    await h!.close();
    h = undefined;
    h = await start(undefined, dataDir);
    expect(h.app.knowledge!.index.stats().messages).toBe(244);
    for (const [prompt, secret] of [["what's the lab wifi password?", 'hunter2'], ['what is the workshop door code?', '4711'], ['what is the budget code for the offsite?', 'ZEBRA']] as const) {
      const { card, payload, given } = await ask(prompt, `none-${secret}`);
      expect(given).not.toContain(secret);
      expect(payload.sources).toBeUndefined();
      expect(card.sources).toBeUndefined();
      // Only the question itself: no context message from the index.
      expect(payload.messages.filter((m) => m.role === 'user').map((m) => m.content)).toEqual([prompt]);
    }
  });
});
