/**
 * HTTP mode's front door: only requests signed with the signing secret, and signed recently, get in;
 * a request replayed as it was is answered once.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SlackHarness, waitFor } from '../fakes/slack/harness.js';
import { eventCallback, mention, slashCommand } from '../fakes/slack/payloads.js';

describe('Slack app in HTTP mode: signed requests', () => {
  let h: SlackHarness;

  beforeAll(async () => {
    h = await SlackHarness.start({ mode: 'http' });
  });

  afterAll(async () => {
    await h?.close({ fake: true });
  });

  test('listens on 127.0.0.1 at /slack/events', () => {
    expect(h.adapter.httpAddress()?.host).toBe('127.0.0.1');
    expect(h.eventsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/slack\/events$/);
  });

  test('a request with a bad signature is refused and runs nothing', async () => {
    const body = eventCallback(mention('forged question', { user: 'UX', channel: 'C1' }).event);
    const res = await h.fake.postSigned(h.eventsUrl, 'events', body, { signature: `v0=${'0'.repeat(64)}` });
    expect(res.status).toBe(401);
    const cmd = slashCommand('/ask', 'forged too', { user: 'UX', channel: 'C1', responseUrl: h.fake.responseUrl() });
    const wrongSecret = await h.fake.postSigned(h.eventsUrl, 'form', cmd, { signature: 'v0=deadbeef' });
    expect(wrongSecret.status).toBe(401);
    expect(h.fake.state.calls.filter((c) => c.method.startsWith('chat.'))).toEqual([]);
    expect(h.app.store.listJobs({ userId: 'slack:UX' })).toEqual([]);
  });

  test('a correctly signed request with a stale timestamp (a replay) is refused', async () => {
    const cmd = slashCommand('/ask', 'an old question', { user: 'UY', channel: 'C1', responseUrl: h.fake.responseUrl() });
    const sixMinutesAgo = Math.floor(Date.now() / 1000) - 6 * 60;
    const res = await h.fake.postSigned(h.eventsUrl, 'form', cmd, { timestamp: sixMinutesAgo });
    expect(res.status).toBe(401);
    expect(h.app.store.listJobs({ userId: 'slack:UY' })).toEqual([]);
  });

  test('the same signed request sent twice within the window runs once', async () => {
    const cmd = slashCommand('/ask', 'say it once', { user: 'UZ', channel: 'C7', responseUrl: h.fake.responseUrl() });
    const ts = Math.floor(Date.now() / 1000);
    const first = await h.fake.postSigned(h.eventsUrl, 'form', cmd, { timestamp: ts });
    const second = await h.fake.postSigned(h.eventsUrl, 'form', cmd, { timestamp: ts });
    expect([first.status, second.status]).toEqual([200, 200]);
    await waitFor('the repeat dropped', () => h.adapter.stats.duplicates > 0);
    await waitFor('the answer', () => h.app.store.listJobs({ userId: 'slack:UZ', states: ['done'] }).length === 1);
    expect(h.app.store.listJobs({ userId: 'slack:UZ' })).toHaveLength(1);
    expect(h.fake.state.topLevel('C7')).toHaveLength(1);
    expect(h.errors).toEqual([]);
  });
});
