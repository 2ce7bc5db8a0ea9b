/**
 * Fifty people ask at once over Socket Mode. Each request must be acknowledged before Slack's
 * three-second deadline (the fake Slack, like Slack, redelivers what is not), and each must get its
 * own answer in its own thread: none lost, none doubled.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { SlackHarness, waitFor } from '../fakes/slack/harness.js';

const USERS = 50;
let h: SlackHarness;

beforeAll(async () => {
  h = await SlackHarness.start({ mode: 'socket', chatStepMs: 20 });
});

afterAll(async () => {
  await h?.close({ fake: true });
});

test('50 users at once in Socket Mode: all acknowledged in time, all answered, none lost', async () => {
  const users = Array.from({ length: USERS }, (_, i) => `U${100 + i}`);
  const sent = await Promise.all(users.map((u) => h.command('/ask', `question from ${u}`, { user: u, channel: 'CLOAD' })));

  // Acknowledged within Slack's deadline: nothing missed, nothing redelivered.
  expect(sent.every((s) => s.delivery?.attempts === 1)).toBe(true);
  expect(h.fake.deliveries.missed).toEqual([]);

  const roots = await waitFor('every question posted', () => {
    const r = h.fake.state.topLevel('CLOAD');
    return r.length === USERS ? r : undefined;
  });
  await waitFor(
    'every answer',
    () => roots.every((root) => h.fake.state.thread('CLOAD', root.ts).some((m) => m.stream?.stopped)),
    30_000,
  );
  for (const u of users) {
    const root = roots.filter((r) => r.text.startsWith(`*<@${u}> asked:*`));
    expect(root).toHaveLength(1);
    const answers = h.fake.state.thread('CLOAD', root[0]!.ts).filter((m) => m.stream);
    expect(answers).toHaveLength(1);
    expect(answers[0]!.text).toContain(`echo: question from ${u}`);
  }
  expect(h.app.store.listJobs({ states: ['done'] }).length).toBe(USERS);
  // People who had to wait were shown where they stood in the queue.
  const statusTexts = h.fake.state.messages.filter((m) => m.channel === 'CLOAD' && m.thread).flatMap((m) => m.history);
  expect(statusTexts.some((t) => /\d+(st|nd|rd|th) in line — starts in/.test(t))).toBe(true);
  expect(h.errors).toEqual([]);
});
