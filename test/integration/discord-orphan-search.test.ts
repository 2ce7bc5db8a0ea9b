/**
 * Discord's search for a message a stopped run left behind, through a whole hearth (real discord.js
 * against the fake): when the channel cannot be read (403 Missing Access), hearth says so once,
 * however many answers look there, and every answer goes on. (Finding the message when the channel
 * can be read is test/integration/app-kill9.test.ts's, with a real kill -9.)
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FakeDiscord, type FakeMessage } from '../fakes/discord/fake-discord.js';
import { discordHearth, type DiscordHearth } from '../fakes/discord/harness.js';
import { Perm } from '../fakes/discord/history.js';

const FOLLOWUP = /^\/webhooks\/\d+\/[^/]+$/;

let fake: FakeDiscord;
const apps: DiscordHearth[] = [];

beforeAll(async () => {
  fake = await FakeDiscord.start();
});

afterAll(async () => {
  for (const a of apps) await a.stop();
  await fake?.close();
});

it('a channel it cannot read is reported once for all the answers that look there, and each answer goes on', async () => {
  const room = fake.textChannel('room');
  // 29 words of 75 characters before the hold: past 2,000 characters, so each answer has a follow-up.
  const words = Array.from({ length: 38 }, (_, i) => `${String(i).padStart(2, '0')}${'w'.repeat(72)}`);
  const first = await discordHearth({ fake });
  apps.push(first);
  first.gate.hold((s) => s.model === 'chat' && s.step === 30);
  // Discord makes each answer's follow-up, but its reply never reaches this run.
  const replies = [fake.holdReply('POST', FOLLOWUP), fake.holdReply('POST', FOLLOWUP)];
  const people = ['ann', 'bob'].map((n) => fake.user(n));
  const its = people.map((u) => fake.slash('ask', { prompt: [u.username, ...words].join(' ') }, { user: u, channel: room }));
  await fake.waitFor(() => replies.every((r) => r.held()), 'both follow-ups made, their replies held', 30_000);
  const orphans = its.map((it) => fake.followups(it)[0]!);
  const jobs = people.map((u) => first.app.store.listJobs({ userId: `discord:${u.id}`, order: 'recent', limit: 1 })[0]!);
  for (const j of jobs) expect(first.app.store.getJob(j.id)?.origin).toMatchObject({ posting: { via: 'interaction', channelId: room.id } });
  await first.stop();
  for (const r of replies) r.release();

  // The bot loses View Channel in the room before the restart.
  fake.history.overwrite(room, fake.guildId, 'role', { deny: Perm.ViewChannel });
  const second = await discordHearth({ fake, dataDir: first.dataDir });
  apps.push(second);
  await fake.waitFor(() => jobs.every((j) => second.app.store.getJob(j.id)?.deliveredAt), 'both answers delivered after the restart', 30_000);

  const told = second.reported.filter((r) => r.where === 'discord: finding a left-behind reply');
  expect(told).toHaveLength(1);
  expect(told[0]!.message).toContain(`looking in channel ${room.id}`);
  expect(told[0]!.message).toContain('View Channel and Read Message History');
  expect(second.reported).toEqual(told);
  // Both searches were refused; nothing else was.
  expect(fake.state.errors.filter((e) => !e.includes(`/channels/${room.id}/messages → 403 50001`))).toEqual([]);
  expect(fake.state.errors).toHaveLength(2);
  // Each answer is shown whole after the message it could not find (that one is the limit this reports).
  its.forEach((it, i) => {
    const shown = [fake.original(it), ...fake.followups(it)].filter((m): m is FakeMessage => !!m && !m.deleted && m.id !== orphans[i]!.id);
    expect(shown.map((m) => m.content).join('')).toBe(`echo: ${[people[i]!.username, ...words].join(' ')} `);
  });
});
