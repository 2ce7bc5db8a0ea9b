/**
 * Who may use hearth on Discord (guild, channel and role allowlists; admins), a command whose model is
 * not configured, and answers that outlive the interaction token.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ephemeralText } from '../fakes/discord/assertions.js';
import { EPHEMERAL, FakeDiscord, type FakeInteraction, type FakeUser } from '../fakes/discord/fake-discord.js';
import { discordHearth, type DiscordHearth } from '../fakes/discord/harness.js';
import { simApp } from '../helpers/sim-app.js';
import { discordAdapter } from '../../src/bots/discord/index.js';

describe('Discord access', () => {
  let fake: FakeDiscord;
  let h: DiscordHearth;
  let user: FakeUser;
  const memberRole = '111111111111111111';
  const adminRole = '222222222222222222';

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    user = fake.user('uma');
    const dataDir = mkdtempSync(join(tmpdir(), 'hearth-discord-'));
    h = await discordHearth({
      fake,
      dataDir,
      discord: { guildIds: [fake.guildId], allowedGuilds: [fake.guildId], allowedChannels: [fake.channel.id], allowedRoles: [memberRole], adminRoles: [adminRole] },
      // No chat model in this hearth.
      config: { models: { image: { dir: join(dataDir, 'sd') }, caption: { dir: join(dataDir, 'cap') } }, limits: { roleWeights: { [memberRole]: 2 } } },
      adapter: { tokenLifetimeMs: 1500 },
      imageStepMs: 40,
    });
  });

  afterAll(async () => {
    await h?.stop();
    await fake?.close();
  });

  /** A refusal is the immediate, ephemeral answer: no deferral, no job. */
  async function refusal(it: FakeInteraction): Promise<string> {
    await fake.waitFor(() => it.callbacks.length > 0, 'the answer');
    const cb = it.callbacks[0]!;
    expect(cb.type).toBe(4);
    expect(Number(cb.data?.flags) & EPHEMERAL).toBe(EPHEMERAL);
    return String(cb.data?.content);
  }

  it('registers the commands in the configured guild, and none globally', () => {
    expect(fake.commands(fake.guildId).map((c) => c.name)).toContain('imagine');
    expect(fake.commands()).toEqual([]);
  });

  it('refuses other channels, naming the allowed ones', async () => {
    const other = fake.textChannel('random');
    const text = await refusal(fake.slash('imagine', { prompt: 'x' }, { user, channel: other, roles: [memberRole] }));
    expect(text).toBe(`hearth doesn't answer in this channel. Try <#${fake.channel.id}>.`);
  });

  it('refuses users without an allowed role, and DMs when channels or roles are limited', async () => {
    const noRole = await refusal(fake.slash('imagine', { prompt: 'x' }, { user }));
    expect(noRole).toBe(`You need one of these roles to use hearth: <@&${memberRole}>.`);
    const dm = await refusal(fake.slash('queue', {}, { user, channel: fake.dm(user) }));
    expect(dm).toContain("hearth doesn't answer in DMs here");
    const said = fake.say(fake.dm(user), user, 'hello?');
    const reply = await fake.waitFor(() => [...fake.state.messages.values()].find((r) => r.replyTo === said.id), 'the reply');
    expect(reply.content).toBe("⚠️ hearth doesn't answer in DMs here. Use it in one of the server's channels.");
  });

  it('refuses other servers', async () => {
    const foreign = fake.addChannel({ id: '333333333333333333', type: 0, guild_id: '444444444444444444', name: 'elsewhere' });
    const text = await refusal(fake.slash('queue', {}, { user, channel: foreign, roles: [memberRole] }));
    expect(text).toBe("hearth isn't enabled on this server.");
  });

  it('lets admins in anywhere', async () => {
    const other = fake.textChannel('staff');
    const it = fake.slash('hearth status', {}, { user, channel: other, roles: [adminRole] });
    const m = await fake.waitFor(() => fake.original(it)?.content.includes('**Models:**') && fake.original(it), 'the status');
    expect(m.content).toContain('image (image');
  });

  it('says so when the model a command needs is not configured', async () => {
    const it = fake.slash('ask', { prompt: 'hello?' }, { user, roles: [memberRole] });
    const text = await fake.waitFor(() => ephemeralText(fake, it), 'the error');
    expect(text).toContain("That isn't set up on this hearth yet: no chat model is configured (models.chat.path)");
  });

  it('moves to the channel by itself before the interaction token runs out', async () => {
    const it = fake.slash('imagine', { prompt: 'a long one', size: '256x256', steps: 50 }, { user, roles: [memberRole] });
    const posted = await fake.waitFor(
      () => fake.messagesIn(fake.channel.id).find((m) => m.via === 'channel' && m.attachments.some((a) => a.filename.startsWith('hearth-'))),
      'the image in the channel',
    );
    expect(posted.content.startsWith(`<@${user.id}> **a long one**`)).toBe(true);
    // The reply showed the progress until then, and no request used the stale token.
    expect(fake.original(it)!.history.some((c) => /step \d+ of 50/.test(c))).toBe(true);
    expect(fake.state.errors).toEqual([]);
    expect(h.reported).toEqual([]);
    // The member role's weight reached the fair scheduler.
    const [job] = h.app.store.listJobs({ userId: `discord:${user.id}`, order: 'recent', limit: 1 });
    expect(job!.weight).toBe(2);
  });

  it('fails to start with a plain message, and no token in it, when Discord refuses the token', async () => {
    const token = 'MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.wrong-token-0123456789abcdefghijklmnop';
    const { app } = await simApp({
      config: { discord: { token, applicationId: fake.applicationId, apiBaseUrl: fake.apiBaseUrl } },
      adapters: [discordAdapter()],
    });
    try {
      const failure = await app.start().then(() => null, (e: unknown) => e as Error);
      expect(failure?.message).toBe('connecting to Discord: An invalid token was provided.');
      expect(String(failure?.stack)).not.toContain(token);
    } finally {
      await app.close();
    }
  });
});

describe('Discord DMs with only allowedGuilds set', () => {
  let fake: FakeDiscord;
  let h: DiscordHearth;

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    const dataDir = mkdtempSync(join(tmpdir(), 'hearth-discord-'));
    h = await discordHearth({ fake, dataDir, discord: { guildIds: [fake.guildId], allowedGuilds: [fake.guildId], adminUsers: [] } });
  });

  afterAll(async () => {
    await h?.stop();
    await fake?.close();
  });

  it('refuses a DM in words (a member of another server could otherwise use the GPU), but not the server', async () => {
    const stranger = fake.user('stranger');
    const it = fake.slash('queue', {}, { user: stranger, channel: fake.dm(stranger) });
    await fake.waitFor(() => it.callbacks.length > 0, 'the answer');
    expect(it.callbacks[0]!.type).toBe(4);
    expect(String(it.callbacks[0]!.data?.content)).toBe("hearth doesn't answer in DMs here. Use it in one of the server's channels.");
    const said = fake.say(fake.dm(stranger), stranger, 'draw me something');
    const reply = await fake.waitFor(() => [...fake.state.messages.values()].find((r) => r.replyTo === said.id), 'the reply');
    expect(reply.content).toBe("⚠️ hearth doesn't answer in DMs here. Use it in one of the server's channels.");
    const inServer = fake.slash('queue', {}, { user: stranger });
    await fake.waitFor(() => fake.original(inServer) ?? (inServer.callbacks.find((c) => c.type === 4) ? inServer : undefined), 'the queue');
    expect(String(inServer.callbacks.find((c) => c.type === 4)?.data?.content ?? '')).not.toContain('DMs');
    expect(h.app.store.listJobs({})).toEqual([]);
  });
});
