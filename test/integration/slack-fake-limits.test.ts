/**
 * The fake Slack is as strict as Slack: messages past Block Kit's limits get `invalid_blocks` (with the
 * broken fields by JSON pointer), text past 40,000 characters `msg_too_long`, and a method can be made
 * to answer HTTP 429 with Retry-After. The Web API client waits out a 429 through its retry policy
 * (`rejectRateLimitedCalls` off): with retries it delivers, with `retries: 0` (the tests' setting) the
 * call fails; hearth, given a retry policy, still answers through rate-limited calls.
 */
import { WebClient, WebClientEvent, type WebAPIRateLimitedError } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeSlack } from '../fakes/slack/fake-slack.js';
import { SlackHarness, waitFor } from '../fakes/slack/harness.js';
import { LIMITS } from '../fakes/slack/limits.js';
import { shownText } from '../fakes/slack/state.js';

type Json = Record<string, unknown>;

const section = (text: string): Json => ({ type: 'section', text: { type: 'mrkdwn', text } });

describe('the fake Slack refuses what Slack refuses', () => {
  let fake: FakeSlack;
  let client: WebClient;
  beforeAll(async () => {
    fake = new FakeSlack();
    await fake.start();
    client = new WebClient(fake.botToken, { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } });
  });
  afterAll(async () => fake?.close());

  const post = (args: Json): Promise<Json> =>
    client.apiCall('chat.postMessage', { channel: 'C1', ...args }).then((r) => r as unknown as Json, (e: { data?: Json }) => e.data ?? { thrown: String(e) });

  it('takes a message at every limit', async () => {
    const blocks = [
      ...Array.from({ length: 46 }, (_, i) => section(i === 0 ? 's'.repeat(LIMITS.sectionText) : `part ${i}`)),
      { type: 'header', text: { type: 'plain_text', text: 'h'.repeat(LIMITS.headerText) } },
      { type: 'section', fields: Array.from({ length: LIMITS.sectionFields }, () => ({ type: 'mrkdwn', text: 'f'.repeat(LIMITS.fieldText) })) },
      { type: 'context', elements: Array.from({ length: LIMITS.contextElements }, () => ({ type: 'mrkdwn', text: 'c' })) },
      { type: 'actions', elements: Array.from({ length: LIMITS.actionsElements }, (_, i) => ({ type: 'button', text: { type: 'plain_text', text: 'b'.repeat(LIMITS.buttonText) }, action_id: `a${i}`, value: 'v'.repeat(LIMITS.buttonValue) })) },
    ];
    expect(blocks).toHaveLength(LIMITS.blocks);
    const ok = await post({ text: 't'.repeat(LIMITS.messageText), blocks });
    expect(ok.ok).toBe(true);
  });

  const refusals: Array<[string, Json, string]> = [
    ['51 blocks', { blocks: Array.from({ length: 51 }, () => section('x')) }, 'must be less than 51 items [json-pointer:/blocks]'],
    ['a section of 3001 characters', { blocks: [section('ok'), section('s'.repeat(3001))] }, 'must be less than 3001 characters [json-pointer:/blocks/1/text/text]'],
    ['11 section fields', { blocks: [{ type: 'section', fields: Array.from({ length: 11 }, () => ({ type: 'mrkdwn', text: 'f' })) }] }, 'must be less than 11 items [json-pointer:/blocks/0/fields]'],
    ['a header of 151 characters', { blocks: [{ type: 'header', text: { type: 'plain_text', text: 'h'.repeat(151) } }] }, 'must be less than 151 characters [json-pointer:/blocks/0/text/text]'],
    ['an empty section text', { blocks: [section('')] }, 'must be more than 0 characters [json-pointer:/blocks/0/text/text]'],
    ['11 context elements', { blocks: [{ type: 'context', elements: Array.from({ length: 11 }, () => ({ type: 'mrkdwn', text: 'c' })) }] }, 'must be less than 11 items [json-pointer:/blocks/0/elements]'],
    ['a button label of 76 characters', { blocks: [{ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'b'.repeat(76) }, action_id: 'a' }] }] }, 'must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]'],
    ['a button value of 2001 characters', { blocks: [{ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'b' }, action_id: 'a', value: 'v'.repeat(2001) }] }] }, 'must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]'],
    ['two buttons with one action_id', { blocks: [{ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'a' }, action_id: 'same' }, { type: 'button', text: { type: 'plain_text', text: 'b' }, action_id: 'same' }] }] }, 'duplicate action_id [json-pointer:/blocks/0/elements/1/action_id]'],
    ['two blocks with one block_id', { blocks: [{ ...section('a'), block_id: 'b' }, { ...section('b'), block_id: 'b' }] }, 'duplicate block_id [json-pointer:/blocks/1/block_id]'],
  ];
  for (const [what, args, error] of refusals) {
    it(`refuses ${what} with invalid_blocks`, async () => {
      const count = fake.state.messages.length;
      const res = await post({ text: 'fallback', ...args });
      expect(res).toMatchObject({ ok: false, error: 'invalid_blocks' });
      expect(res.errors).toContain(error);
      expect((res.response_metadata as { messages: string[] }).messages).toContain(`[ERROR] ${error}`);
      expect(fake.state.messages.length).toBe(count);
    });
  }

  it('refuses text past 40,000 characters with msg_too_long, in a post and in an update', async () => {
    const res = await post({ text: 't'.repeat(LIMITS.messageText + 1) });
    expect(res).toMatchObject({ ok: false, error: 'msg_too_long' });
    const sent = (await client.chat.postMessage({ channel: 'C1', text: 'short' })) as { ts: string };
    const upd = await client.chat.update({ channel: 'C1', ts: sent.ts, text: 'u'.repeat(LIMITS.messageText + 1) }).catch((e: { data?: Json }) => e.data);
    expect(upd).toMatchObject({ ok: false, error: 'msg_too_long' });
    expect(fake.state.find('C1', sent.ts)?.text).toBe('short');
  });

  it('answers 429 with Retry-After when asked', async () => {
    fake.rateLimit('chat.postMessage', { retryAfterSeconds: 1 });
    const res = await fetch(`${fake.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fake.botToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'C1', text: 'hi' }),
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toEqual({ ok: false, error: 'ratelimited' });
  });

  it('the Web API client waits out a 429 and retries through its retry policy; with retries: 0 the call fails', async () => {
    const retrying = new WebClient(fake.botToken, { slackApiUrl: fake.apiUrl, retryConfig: { retries: 2, minTimeout: 0, maxTimeout: 10 } });
    let limited = 0;
    retrying.on(WebClientEvent.RATE_LIMITED, () => limited++);
    fake.rateLimit('chat.postMessage', { retryAfterSeconds: 1 });
    const started = Date.now();
    const sent = await retrying.chat.postMessage({ channel: 'C1', text: 'after the wait' });
    expect(sent.ok).toBe(true);
    expect(limited).toBe(1);
    // It waited the Retry-After (1 s) before trying again. (A bound from below only: not a timing test.)
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(fake.state.messages.at(-1)?.text).toBe('after the wait');

    // No retries: the wait happens, then the call fails (the tests' harness setting, retries: 0).
    fake.rateLimit('chat.postMessage', { retryAfterSeconds: 0 });
    await expect(client.chat.postMessage({ channel: 'C1', text: 'lost' })).rejects.toThrow(/rate limit was exceeded/);
    // rejectRateLimitedCalls: the caller gets the rate-limit error at once, with the wait Slack asked for.
    const rejecting = new WebClient(fake.botToken, { slackApiUrl: fake.apiUrl, rejectRateLimitedCalls: true });
    fake.rateLimit('chat.postMessage', { retryAfterSeconds: 30 });
    const err = (await rejecting.chat.postMessage({ channel: 'C1', text: 'x' }).catch((e: unknown) => e)) as WebAPIRateLimitedError;
    expect(err.code).toBe('slack_webapi_rate_limited_error');
    expect(err.retryAfter).toBe(30);
  });
});

describe('hearth against the strict fake Slack', () => {
  let h: SlackHarness;
  beforeAll(async () => {
    h = await SlackHarness.start({
      mode: 'http',
      imageStepMs: 20,
      slack: { allowedTeams: ['T0001'], allowedChannels: ['C1', 'C2', 'C3'] },
      // hearth itself runs with the Web API client's default policy (10 retries); a short one here.
      clientOptions: { retryConfig: { retries: 3, minTimeout: 0, maxTimeout: 10 } },
    });
    h.fake.streaming = false;
  });
  afterAll(async () => h?.close({ fake: true }));

  it('a long answer (past one section and past 3000 characters) stays within Block Kit’s limits', async () => {
    const words = Array.from({ length: 900 }, (_, i) => `word${i}`).join(' ');
    await h.command('/ask', words, { user: 'U1', channel: 'C1' });
    await waitFor('the long answer', () => h.fake.state.messages.some((m) => shownText(m).includes('word899')), 20_000);
    expect(h.fake.refused).toEqual([]);
    expect(h.errors).toEqual([]);
  });

  it('answers and draws while Slack rate-limits its posts and updates', async () => {
    h.fake.rateLimit('chat.postMessage', { times: 1, retryAfterSeconds: 1 });
    h.fake.rateLimit('chat.update', { times: 1, retryAfterSeconds: 1 });
    await h.command('/ask', 'through the rate limit', { user: 'U2', channel: 'C2' });
    await waitFor('the answer', () => h.fake.state.messages.some((m) => shownText(m).includes('echo: through the rate limit') && m.edits > 0), 20_000);
    await h.command('/imagine', 'a patient lighthouse --steps 3', { user: 'U3', channel: 'C3' });
    await waitFor('the image', () => h.fake.state.files.some((f) => f.channel === 'C3'), 20_000);
    expect(h.fake.rateLimited).toEqual(['chat.postMessage', 'chat.update']);
    expect(h.fake.refused).toEqual([]);
    expect(h.errors).toEqual([]);
  });
});
