/**
 * Slack's search for a message a stopped run left behind, through a whole hearth (real @slack/bolt
 * against the fake): when the conversation cannot be read (here `missing_scope`, an app installed
 * without the history scope the conversation needs), hearth says so once for the conversation,
 * however many answers look there, with the scope to add, and every answer goes on. (Finding the
 * message when the conversation can be read is test/integration/app-kill9.test.ts's, with a real
 * kill -9; the search on its own is slack-writers.test.ts's.)
 *
 * Able to fail: with SlackRenderer's dedupe taken out (`#searchFailed` reporting every time), the two
 * answers give two reports and the length check fails (tried when this was written); a DM given the
 * channel scopes' hint fails the `im:history` case.
 */
import { afterAll, expect, it } from 'vitest';
import { FakeSlack } from '../fakes/slack/fake-slack.js';
import { SlackHarness, waitFor } from '../fakes/slack/harness.js';

const SLACK = { allowedTeams: ['T0001'] };
const open: Array<SlackHarness | FakeSlack> = [];

afterAll(async () => {
  for (const x of open.reverse()) await x.close();
});

it.each([
  { where: 'a public channel', channel: 'C1', without: 'channels:history', hint: 'add channels:history and groups:history to the app' },
  // /ask in a DM answers in a thread under the question too, read with conversations.replies.
  { where: 'a direct message', channel: 'D1', without: 'im:history', hint: 'add im:history to the app' },
])('$where it cannot read is reported once for all the answers that look there, and each answer goes on', async ({ channel, without, hint }) => {
  const fake = new FakeSlack();
  await fake.start();
  open.push(fake);
  fake.history.addChannel(channel);
  const first = await SlackHarness.start({ mode: 'socket', fake, slack: SLACK });
  open.push(first);
  // Each answer stays running (its origin can still be written) until the stop.
  first.gate.hold((s) => s.model === 'chat' && s.step === 4);
  // Slack makes each answer's stream, but its reply never reaches this run.
  const replies = [fake.holdReply('chat.startStream'), fake.holdReply('chat.startStream')];
  const people = ['UANN', 'UBOB'];
  const prompts = people.map((u) => `${u.toLowerCase()} wants to know why the sky is blue`);
  for (const [i, u] of people.entries()) await first.command('/ask', prompts[i]!, { user: u, channel });
  await waitFor('both streams made, their replies held', () => replies.every((r) => r.held()), 30_000);
  const roots = people.map((u) => fake.state.topLevel(channel).find((m) => m.text.startsWith(`*<@${u}> asked:*`))!);
  const orphans = roots.map((r) => fake.state.thread(channel, r.ts).filter((m) => m.stream).map((m) => m.ts));
  for (const o of orphans) expect(o).toHaveLength(1);
  const jobs = people.map((u) => first.app.store.listJobs({ userId: `slack:${u}`, order: 'recent', limit: 1 })[0]!);
  for (const j of jobs) expect(first.app.store.getJob(j.id)?.origin).toMatchObject({ channel, posting: expect.any(String) });
  await first.close();
  // The held replies are released only at the end: a killed run never hears back, while this stopped
  // run (still in this process) would record the streams' ts once told them (an ended job's origin is
  // written until its end is delivered), and the restart would then have nothing to look for.

  // The app was installed without the scope: the threads cannot be read after the restart.
  fake.history.withoutScopes.add(without);
  const readsBefore = fake.state.callsOf('conversations.replies').length;
  const second = await SlackHarness.start({ mode: 'socket', fake, dataDir: first.dataDir, slack: SLACK });
  open.push(second);
  await waitFor('both answers delivered after the restart', () => jobs.every((j) => second.app.store.getJob(j.id)?.deliveredAt), 30_000);

  // Both answers looked, and were refused; hearth said so once, naming the conversation and the scope.
  expect(fake.state.callsOf('conversations.replies').length - readsBefore).toBe(2);
  expect(second.errors).toHaveLength(1);
  expect(second.errors[0]).toContain(`slack: looking in ${channel} for a message a killed run left behind (${hint}:`);
  expect(second.errors[0]).toContain('missing_scope');
  // Each answer is shown whole after the stream it could not find (that one is the limit this reports).
  roots.forEach((r, i) => {
    const shown = fake.state.thread(channel, r.ts).filter((m) => m.stream && !orphans[i]!.includes(m.ts));
    expect(shown.every((m) => m.stream?.stopped)).toBe(true);
    expect(shown.map((m) => m.text).join('')).toBe(`echo: ${prompts[i]!} `);
  });
  expect(fake.refused).toEqual([]);
  for (const r of replies) r.release();
});
