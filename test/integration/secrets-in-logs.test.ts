/**
 * Credentials stay out of hearth's log: each platform's app runs against its fake with the log
 * captured at debug level, through paths that log (starts, stops, refused requests, errors), and the
 * log is scanned for every credential the fake issued. The harnesses run the same scan when any test
 * stops them; this file makes sure there was something to scan, and that the scan would see a leak.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleClient } from '../browser/support/http-client.js';
import { webApp } from '../browser/support/web-app.js';
import { discordHearth, discordSecrets, type DiscordHearth } from '../fakes/discord/harness.js';
import { SlackHarness, slackSecrets, waitFor } from '../fakes/slack/harness.js';
import { consoleToken } from '../helpers/tokens.js';

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()!();
});

describe('no credential reaches the log', () => {
  it('Discord: the bot token and interaction tokens, through a run, an expired token and reported errors', async () => {
    const h: DiscordHearth = await discordHearth({ imageStepMs: 30 });
    closers.push(() => h.fake.close());
    const { fake } = h;
    // Discord's real token shape, of an id starting with 8: base64 "O…" (the shape scrubbing once missed).
    expect(fake.token).toMatch(/^O[A-Za-z0-9_-]{23,}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,}$/);
    const ask = fake.slash('ask', { prompt: 'hello there' });
    await fake.waitFor(() => fake.original(ask)?.content.includes('echo') && fake.original(ask), 'the answer');
    const img = fake.slash('imagine', { prompt: 'a token that runs out', steps: 10 });
    await fake.waitFor(() => /step \d+ of 10/.test(fake.original(img)?.content ?? ''), 'progress');
    fake.expireToken(img);
    await fake.waitFor(() => fake.messagesIn(fake.channel.id).find((m) => m.via === 'channel' && m.attachments.length > 0), 'the image in the channel');
    // Errors as libraries word them, with the credentials in them, reported the way adapters do.
    const it = [...fake.state.interactions.values()][0]!;
    h.app.reportError(new Error(`401: Unauthorized (Authorization: Bot ${fake.token})`), 'test');
    h.app.reportError(new Error(`PATCH ${fake.apiBaseUrl}/v10/webhooks/${fake.applicationId}/${it.token}/messages/%40original failed`), 'test');
    await h.stop(); // scans the log
    expect(h.logs.lines.length).toBeGreaterThanOrEqual(3);
    expect(h.logs.text).toContain('error in test');
  });

  it('Slack: bot token, app token and signing secret, in Socket Mode and HTTP mode, through refused requests', async () => {
    for (const mode of ['socket', 'http'] as const) {
      const h = await SlackHarness.start({ mode, slack: { allowedTeams: ['T0001'], allowedChannels: ['C1'] } });
      closers.push(() => h.fake.close());
      expect(h.fake.botToken).toMatch(/^xoxb-\d+-\d+-[A-Za-z0-9]{24}$/);
      expect(h.fake.appToken).toMatch(/^xapp-1-A[A-Z0-9]+-\d+-[0-9a-f]{64}$/);
      await h.command('/ask', 'hello', { user: 'U1', channel: 'C1' });
      await waitFor('the answer', () => h.fake.state.messages.some((m) => m.text.includes('echo') || m.history.some((t) => t.includes('echo'))));
      if (mode === 'http') {
        // A forged request: refused, and the signing secret is not what gets logged about it.
        const bad = await h.fake.postSigned(h.eventsUrl, 'events', { type: 'event_callback' }, { signature: 'v0=00' });
        expect(bad.status).toBe(401);
      }
      h.app.reportError(new Error(`An API error occurred: invalid_auth (token ${h.fake.botToken}, app ${h.fake.appToken})`), 'test');
      h.app.reportError(new Error(`{"signingSecret":"${h.fake.signingSecret}"}`), 'test');
      await h.close(); // scans the log
      expect(h.logs!.lines.length).toBeGreaterThan(2);
      expect(h.logs!.text).toContain('error in test');
    }
  });

  it('the web console: web.token, through wrong and right tokens in headers and query strings', async () => {
    const token = consoleToken(16);
    const w = await webApp({ config: { web: { token } } });
    const base = w.web.url();
    expect((await fetch(`${base}api/info?token=${token}`, { redirect: 'manual' })).status).toBeLessThan(400);
    const c = new ConsoleClient(base);
    expect((await c.fetch('/api/info', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    // A wrong one last: after it, this address waits before its tokens are checked again (backoff).
    expect((await fetch(`${base}api/info`, { headers: { authorization: `Bearer ${token}x` } })).status).toBe(401);
    w.app.reportError(new Error(`GET /?token=${token} failed (Authorization: Bearer ${token})`), 'test');
    await w.close(); // scans the log
    expect(w.logs.text).toContain('error in test');
  });

  it('the scan sees a leak: a credential written to the log raw fails the harness', async () => {
    const h = await discordHearth();
    closers.push(() => h.fake.close());
    h.logs.log.info(`raw ${fake(h)}`);
    await expect(h.stop()).rejects.toThrow(/discord\.token/);
    const secrets = discordSecrets(h.fake);
    expect(Object.keys(secrets)).toContain('discord.token');
    const s = await SlackHarness.start({ mode: 'socket' });
    closers.push(() => s.fake.close());
    s.logs!.log.warn({ note: `xapp: ${s.fake.appToken.slice(0, 7)}…` }, 'safe prefix only');
    s.logs!.log.warn(`leaked ${s.fake.signingSecret}`);
    await expect(s.close()).rejects.toThrow(/slack\.signingSecret/);
    expect(Object.keys(slackSecrets(s.fake))).toHaveLength(3);
  });
});

function fake(h: DiscordHearth): string {
  return h.fake.token;
}
