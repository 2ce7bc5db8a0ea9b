/**
 * Long answers through the real Web API client into the fake Slack: split under the block and message
 * limits, in order, with nothing lost, whether edited in (chat.update) or streamed.
 */
import { webApi } from '@slack/bolt';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { LiveMessage, StreamWriter, UpdateWriter } from '../../src/bots/slack/answer-writer.js';
import { cancelButton } from '../../src/bots/slack/blocks.js';
import type { SlackOrigin } from '../../src/bots/slack/origin.js';
import { findOrphans, ORPHAN_SEARCH_PAGES } from '../../src/bots/slack/orphans.js';
import { SlackApi } from '../../src/bots/slack/slack-api.js';
import { PART_CHARS, SECTION_CHARS, escapeMrkdwn, neutralizeMentions } from '../../src/bots/slack/text.js';
import { FakeSlack } from '../fakes/slack/fake-slack.js';
import { buttonsOf, shownText } from '../fakes/slack/state.js';

let fake: FakeSlack;
let api: SlackApi;

beforeAll(async () => {
  fake = new FakeSlack();
  await fake.start();
  api = new SlackApi(new webApi.WebClient(fake.botToken, { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } }));
});

afterAll(async () => {
  await fake.close();
});

/** About 31,000 characters: paragraphs, long lines, entities and would-be mentions. */
function longAnswer(): string {
  const parts: string[] = [];
  for (let i = 0; i < 120; i++) {
    parts.push(`Paragraph ${i}: heat & light <!channel> <@U123> ${'word '.repeat(40)}${i % 7 === 0 ? 'x'.repeat(300) : ''}`);
  }
  return parts.join('\n\n');
}

const origin = (channel: string, thread: string): SlackOrigin => ({ platform: 'slack', kind: 'ask', team: 'T0001', channel, user: 'U1', thread });

test('edited-in answers: sections of at most 3000 characters, parts in order, buttons on the last, nothing lost', async () => {
  const text = longAnswer();
  const thread = await api.post('CW1', { text: 'question' });
  const statusTs = await api.post('CW1', { text: 'Getting in line…' }, thread);
  const writer = new UpdateWriter(api, origin('CW1', thread), new LiveMessage(api, 'CW1', thread, statusTs));
  for (let n = 1000; n < text.length; n += 7000) await writer.write(text.slice(0, n), [cancelButton('job-1')]);
  const running = fake.state.thread('CW1', thread);
  expect(running.filter((m) => buttonsOf(m).length > 0)).toHaveLength(1);
  expect(buttonsOf(running.at(-1)!)).toEqual([{ action: 'hearth_cancel', value: 'job-1' }]);
  await writer.finish(text, '_done_');

  const msgs = fake.state.thread('CW1', thread);
  expect(msgs[0]!.ts).toBe(statusTs);
  expect(msgs.length).toBeGreaterThanOrEqual(Math.ceil(escapeMrkdwn(text).length / PART_CHARS));
  for (const m of msgs) {
    const sections = m.blocks.filter((b) => b.type === 'section').map((b) => (b.text as { text: string }).text);
    expect(sections.every((s) => s.length <= SECTION_CHARS)).toBe(true);
    expect(sections.join('').length).toBeLessThanOrEqual(PART_CHARS);
    expect(buttonsOf(m)).toEqual([]);
  }
  const body = msgs.map((m) => m.blocks.filter((b) => b.type === 'section').map((b) => (b.text as { text: string }).text).join('')).join('');
  expect(body).toBe(escapeMrkdwn(text));
  expect(body).not.toContain('<!channel>');
  expect(shownText(msgs.at(-1)!)).toContain('_done_');
});

test('streamed answers: each stream under the part limit, continued in a new stream, nothing lost', async () => {
  const text = longAnswer();
  const thread = await api.post('CW2', { text: 'question' });
  const writer = new StreamWriter(api, { ...origin('CW2', thread), thread });
  for (let n = 500; n < text.length; n += 3000) await writer.write(text.slice(0, n));
  await writer.finish(text, '_done_');
  const streams = fake.state.thread('CW2', thread).filter((m) => m.stream);
  expect(streams.length).toBeGreaterThan(1);
  expect(streams.every((m) => m.stream?.stopped)).toBe(true);
  expect(streams.every((m) => m.text.length <= PART_CHARS + '\n\n_done_'.length)).toBe(true);
  const body = streams.map((m) => m.text).join('');
  expect(body).toBe(`${neutralizeMentions(text)}\n\n_done_`);
  expect(body).not.toContain('<!channel>');
  expect(streams.every((m) => m.stream?.recipient?.user === 'U1')).toBe(true);
});

test('a message a crash left behind: only the bot’s own, newer than the mark, owned by no job; a long search stops at its limit', async () => {
  fake.history.addChannel('CW3');
  const thread = fake.history.seed('CW3', 'U1', 'a question').ts;
  const before = await api.post('CW3', { text: 'an earlier answer' }, thread);
  const mark = api.newestPosted('CW3', thread)!;
  expect(mark).toBe(before);
  const owned = await api.post('CW3', { text: 'another job’s status' }, thread);
  fake.history.seed('CW3', 'U2', 'someone else replies', { thread });
  const orphan = await api.startStream('CW3', thread, 'echo: half an answer', { team: 'T0001', user: 'U1' });
  const found = await findOrphans(api, { channel: 'CW3', thread, after: mark, owned: (ts) => ts === owned });
  expect(found).toEqual([orphan]);

  // A conversation with more newer messages than the search reads: refused with the limit named.
  fake.history.addChannel('CW4');
  const busy = fake.history.seed('CW4', 'U1', 'a busy thread').ts;
  for (let i = 0; i < ORPHAN_SEARCH_PAGES * 200 + 1; i++) fake.history.seed('CW4', 'U2', `reply ${i}`, { thread: busy });
  await expect(findOrphans(api, { channel: 'CW4', thread: busy, after: busy, owned: () => false })).rejects.toThrow(/CW4 has more messages after .* looked at \d+ in 10 pages, the most allowed/);
});
