/**
 * README, Slack: "`/hearth queue | cancel | forget | status`"; "`/forget` clears the conversation";
 * `/hearth status` is for admins (the command's own help). /hearth queue and cancel are proven in
 * slack-app.test.ts; this file proves forget and status, through the real Slack adapter against the
 * fake Slack (test/fakes/slack/harness.ts), in Socket Mode and in HTTP mode.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SlackHarness, waitFor } from '../fakes/slack/harness.js';
import { directMessage } from '../fakes/slack/payloads.js';

type Message = { role: string; content: string };

describe.each(['socket', 'http'] as const)('Slack /hearth forget and status in %s mode', (mode) => {
  let h: SlackHarness;

  beforeAll(async () => {
    h = await SlackHarness.start({ mode, slack: { adminUsers: ['UADMIN'] } });
  });
  afterAll(async () => {
    await h?.close({ fake: true });
  });
  afterEach(() => expect(h.errors).toEqual([]));

  /** The text of the latest ephemeral answer to a slash command after `n` answers were already there. */
  const responseAfter = (n: number, test: (t: string) => boolean, what: string): Promise<string> =>
    waitFor(what, () => {
      const texts = h.fake.responses.slice(n).map((r) => (typeof r.body.text === 'string' ? r.body.text : ''));
      return texts.find(test);
    });

  const chats = (user: string) => h.app.store.listJobs({ userId: `slack:${user}`, order: 'recent' }).filter((j) => j.kind === 'chat');
  const turnsOf = (payload: unknown): Message[] => ((payload as { messages?: Message[] }).messages ?? []).filter((m) => m.role !== 'system');

  /** A DM to hearth, answered: the chat job, once done. */
  async function dm(user: string, channel: string, text: string) {
    const before = chats(user).length;
    await h.event(directMessage(text, { user, channel }).event);
    return waitFor(`the answer to "${text}"`, () => {
      const [newest] = chats(user);
      return chats(user).length > before && newest?.state === 'done' ? newest : undefined;
    });
  }

  it('/hearth forget in a DM forgets the conversation: the next question no longer carries the earlier turns', async () => {
    const channel = 'D0FORGET';
    await dm('U21', channel, 'my favourite colour is green');
    const second = await dm('U21', channel, 'what did I just tell you');
    // The DM is one conversation: the second question was given the first turn and its answer.
    expect(turnsOf(second.payload).map((m) => m.content)).toContain('my favourite colour is green');

    const n = h.fake.responses.length;
    await h.command('/hearth', 'forget', { user: 'U21', channel });
    const told = await responseAfter(n, (t) => t.startsWith('Done: I forgot'), 'the forget answer');
    // Two questions and two answers were remembered.
    expect(told).toBe('Done: I forgot 4 messages of our conversation.');

    const third = await dm('U21', channel, 'do you remember my colour');
    expect(turnsOf(third.payload).map((m) => m.content)).toEqual(['do you remember my colour']);
  });

  it('/hearth forget outside a DM says how to forget a thread instead, and forgets nothing', async () => {
    const n = h.fake.responses.length;
    await h.command('/hearth', 'forget', { user: 'U22', channel: 'C1' });
    const told = await responseAfter(n, (t) => t.length > 0, 'the forget hint');
    expect(told).toBe('To make me forget a thread, mention me in it with the word `forget`.');
  });

  it('/hearth status shows an admin the models, VRAM, queue and GPU time used today', async () => {
    await dm('U23', 'D0STATUS', 'count me in the usage');
    const n = h.fake.responses.length;
    await h.command('/hearth', 'status', { user: 'UADMIN', channel: 'C1' });
    const status = await responseAfter(n, (t) => t.includes('*Models loaded:*'), 'the status');
    expect(status).toMatch(/^\*Models loaded:\* .*chat.* \([\d.]+ of [\d.]+ GB\)$/m);
    expect(status).toMatch(/^\*Queue:\* \d+ running, \d+ waiting; \d+ steps run, \d+ model swaps$/m);
    expect(status).toMatch(/^• slack:U23: \d+ GPU-s today$/m);
    // Ephemeral: answered through the command's response_url, never posted in the channel.
    expect(h.fake.responses.at(-1)?.body.response_type).toBe('ephemeral');
    expect(h.fake.state.topLevel('C1').some((m) => m.text.includes('Models loaded'))).toBe(false);
  });

  it('/hearth status is refused to someone who is not an admin, in words', async () => {
    const n = h.fake.responses.length;
    await h.command('/hearth', 'status', { user: 'U24', channel: 'C1' });
    const told = await responseAfter(n, (t) => t.length > 0, 'the refusal');
    expect(told).toMatch(/^You can't do that: /);
    expect(told).not.toContain('Models loaded');
  });
});
