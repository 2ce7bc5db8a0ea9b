/**
 * A long /ask (past one message) that hearth stops in the middle of: after the restart the answer
 * starts over, and the follow-up the first attempt posted must not stay behind or show twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDiscord, type FakeInteraction, type FakeMessage } from '../fakes/discord/fake-discord.js';
import { discordHearth, type DiscordHearth } from '../fakes/discord/harness.js';

/** The messages of an interaction that a user still sees: its reply, then its follow-ups. */
function visible(fake: FakeDiscord, it: FakeInteraction): FakeMessage[] {
  return [fake.original(it), ...fake.followups(it)].filter((m): m is FakeMessage => !!m && !m.deleted);
}

describe('Discord: a restart in the middle of a long answer', () => {
  let fake: FakeDiscord;
  const apps: DiscordHearth[] = [];

  beforeAll(async () => {
    fake = await FakeDiscord.start();
  });

  afterAll(async () => {
    for (const a of apps) await a.stop();
    await fake?.close();
  });

  it('removes the first attempt’s follow-ups, so the final answer shows once', async () => {
    // The simulated chat echoes 40 words, one a step: 39 long words make an answer of about 3,100 characters (two messages).
    const question = Array.from({ length: 39 }, (_, i) => `${String(i).padStart(2, '0')}${'y'.repeat(78)}`).join(' ');
    const answer = `echo: ${question} `;
    expect(answer.length).toBeGreaterThan(2000);
    const first = await discordHearth({ fake, chatStepMs: 150 });
    apps.push(first);
    const alice = fake.user('alice');
    const it = fake.slash('ask', { prompt: question }, { user: alice });

    const stale = await fake.waitFor(() => fake.followups(it)[0], 'the first follow-up');
    await first.stop();
    expect(stale.deleted).toBe(false);
    const [job] = first.app.store.listJobs({ userId: `discord:${alice.id}`, order: 'recent', limit: 1 });
    expect(job).toBeDefined();

    const second = await discordHearth({ fake, chatStepMs: 5, dataDir: first.dataDir });
    apps.push(second);
    const shown = await fake.waitFor(() => {
      const msgs = visible(fake, it);
      const text = msgs.map((m) => m.content).join('');
      return text === answer && msgs.every((m) => m.components.length === 0) ? msgs : null;
    }, 'the whole answer after the restart');

    // It was stopped mid-answer: the job ran a second time.
    expect(second.app.engine.getJob(job!.id)).toMatchObject({ state: 'done', attempts: 2 });
    expect(stale.deleted).toBe(true);
    expect(shown).toHaveLength(2);
    expect(shown[1]!.id).not.toBe(stale.id);
    for (const m of shown) expect(m.content.length).toBeLessThanOrEqual(2000);
    // Nothing else of this answer is left anywhere in the channel.
    const leftovers = fake.messagesIn(fake.channel.id).filter((m) => !m.deleted && m.interactionId === it.id && !shown.includes(m));
    expect(leftovers).toEqual([]);
    expect(apps.flatMap((a) => a.reported)).toEqual([]);
    expect(fake.state.unexpected).toEqual([]);
    expect(fake.state.errors).toEqual([]);
  });
});
