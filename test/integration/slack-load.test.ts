/**
 * Fifty people ask at once over Socket Mode. The GPU is held shut (every simulated step waits for the
 * test) until every request is acknowledged and every job stored: acknowledging never waits on the
 * GPU, however slow the machine. Then the GPU is let go, and each person gets their own answer in
 * their own thread, none lost, none doubled, started in the order they arrived (equal users, nothing
 * served yet: the fair scheduler's order is arrival order). How fast acknowledgements come is a
 * benchmark's question, not this test's.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { FakeSlack } from '../fakes/slack/fake-slack.js';
import { SlackHarness, waitFor } from '../fakes/slack/harness.js';

const USERS = 50;
let h: SlackHarness;

beforeAll(async () => {
  // Slack redelivers what is not acknowledged within 3 s; on a machine loaded by other work, 50 acks at
  // once can take longer. A redelivery would still have to be answered once (tested in
  // slack-start.test.ts), but this test proves the order, not the time: the deadline is out of the way.
  const fake = new FakeSlack({ ackDeadlineMs: 600_000 });
  await fake.start();
  h = await SlackHarness.start({ mode: 'socket', fake, chatStepMs: 20 });
});

afterAll(async () => {
  await h?.close({ fake: true });
});

test('50 users at once in Socket Mode: all acknowledged and queued before any GPU work, each answered once, in order', { timeout: 240_000 }, async () => {
  const started: string[] = [];
  h.app.engine.on((e) => {
    if (e.event.type === 'started') started.push(e.jobId);
  });
  const gpu = h.gate.hold(() => true);
  const users = Array.from({ length: USERS }, (_, i) => `U${100 + i}`);
  const sent = await Promise.all(users.map((u) => h.command('/ask', `question from ${u}`, { user: u, channel: 'CLOAD' })));

  // Every request acknowledged, once, while the GPU has run nothing.
  expect(sent.every((s) => s.delivery?.attempts === 1)).toBe(true);
  await waitFor('every job stored', () => h.app.store.listJobs({ states: ['queued', 'running'] }).length === USERS, 120_000);
  await gpu.reached;
  expect(gpu.holding).toBe(true);
  expect(h.app.store.listJobs({ states: ['done', 'failed', 'cancelled'] })).toEqual([]);
  // At most the first step's batch has begun (chat decodes up to 4 together), and it has not run.
  expect(started.length).toBeLessThanOrEqual(4);
  // People who have to wait are shown where they stand in the queue.
  await waitFor(
    'a place in line shown',
    () => h.fake.state.messages.some((m) => m.channel === 'CLOAD' && m.thread && m.history.concat(m.text).some((t) => /\d+(st|nd|rd|th) in line — starts in/.test(t))),
    120_000,
  );
  gpu.release();

  const roots = await waitFor('every question posted', () => {
    const r = h.fake.state.topLevel('CLOAD');
    return r.length === USERS ? r : undefined;
  });
  await waitFor('every answer', () => roots.every((root) => h.fake.state.thread('CLOAD', root.ts).some((m) => m.stream?.stopped)), 180_000);
  for (const u of users) {
    const root = roots.filter((r) => r.text.startsWith(`*<@${u}> asked:*`));
    expect(root).toHaveLength(1);
    const answers = h.fake.state.thread('CLOAD', root[0]!.ts).filter((m) => m.stream);
    expect(answers).toHaveLength(1);
    expect(answers[0]!.text).toContain(`echo: question from ${u}`);
  }
  const done = h.app.store.listJobs({ states: ['done'] });
  expect(done).toHaveLength(USERS);
  for (const j of done) expect(j.attempts).toBe(1);
  // Fair order for equal users who have had nothing yet: the order they were stored in.
  const seqOf = new Map(done.map((j) => [j.id, j.seq]));
  const order = [...new Set(started)];
  expect(order).toHaveLength(USERS);
  expect(order.map((id) => seqOf.get(id))).toEqual([...done.map((j) => j.seq)].sort((a, b) => a - b));
  expect(h.fake.deliveries.missed).toEqual([]);
  expect(h.errors).toEqual([]);
});
