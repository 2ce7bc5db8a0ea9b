import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { slackHeadersForHost } from '../../src/bots/slack/index.js';
import { SeenEvents } from '../../src/bots/slack/seen-events.js';
import { escapeMrkdwn, neutralizeMentions, splitText, unescapeSlack } from '../../src/bots/slack/text.js';
import { configSchema } from '../../src/config/schema.js';
import { VirtualClock } from '../../src/engine/clock.js';

describe('splitting long text', () => {
  test('pieces fit, join back exactly, and prefer paragraph and line breaks', () => {
    const text = Array.from({ length: 60 }, (_, i) => `line ${i} ${'abc '.repeat(i % 13)}`).join('\n') + '\n\n' + 'tail '.repeat(300);
    const pieces = splitText(text, 500);
    expect(pieces.every((p) => p.length <= 500)).toBe(true);
    expect(pieces.join('')).toBe(text);
    expect(pieces.slice(0, -1).every((p) => /\s$/.test(p))).toBe(true);
  });

  test('a word longer than the limit is cut hard; entities and surrogate pairs are never cut', () => {
    const long = 'x'.repeat(150);
    expect(splitText(long, 64).join('')).toBe(long);
    const entities = escapeMrkdwn('<'.repeat(100));
    const pieces = splitText(entities, 64);
    expect(pieces.join('')).toBe(entities);
    expect(pieces.every((p) => /^(&lt;)+$/.test(p))).toBe(true);
    const emoji = '😀'.repeat(100);
    expect(splitText(emoji, 65).every((p) => !/^[\udc00-\udfff]/.test(p))).toBe(true);
  });

  test('a code block cut in two is closed and reopened', () => {
    const code = '```ts\n' + Array.from({ length: 40 }, (_, i) => `const v${i} = ${i};`).join('\n') + '\n```\nafter';
    const pieces = splitText(code, 200);
    expect(pieces.length).toBeGreaterThan(1);
    for (const p of pieces) expect((p.match(/```/g) ?? []).length % 2).toBe(0);
    expect(pieces[1]!.startsWith('```ts\n')).toBe(true);
    expect(pieces.every((p) => p.length <= 200)).toBe(true);
  });

  test('text from Slack is unescaped for the model; model text is escaped for Slack', () => {
    expect(unescapeSlack('a &lt;b&gt; &amp;amp; c')).toBe('a <b> &amp; c');
    expect(escapeMrkdwn('<!channel> & <@U1>')).toBe('&lt;!channel&gt; &amp; &lt;@U1&gt;');
    expect(neutralizeMentions('<!here> <@U1> <#C1> <b>')).toBe('<\u200b!here> <\u200b@U1> <\u200b#C1> <b>');
  });
});

describe('seen events', () => {
  test('a repeat is recognized, also after a restart, until it expires', () => {
    const clock = new VirtualClock();
    const file = join(mkdtempSync(join(tmpdir(), 'hearth-seen-')), 'seen.log');
    const a = new SeenEvents({ clock, file, ttlMs: 1000 });
    a.load();
    expect(a.firstTime('event:Ev1')).toBe(true);
    expect(a.firstTime('event:Ev1')).toBe(false);
    const b = new SeenEvents({ clock, file, ttlMs: 1000 });
    b.load();
    expect(b.firstTime('event:Ev1')).toBe(false);
    clock.advance(1001);
    const c = new SeenEvents({ clock, file, ttlMs: 1000 });
    c.load();
    expect(readFileSync(file, 'utf8')).toBe('');
    expect(c.firstTime('event:Ev1')).toBe(true);
  });
});

describe('the bot token for downloads', () => {
  test('goes to Slack file hosts only', () => {
    const config = configSchema.parse({ slack: { botToken: 'xoxb-1', appToken: 'xapp-1' } });
    const headers = slackHeadersForHost(config)!;
    expect(headers('files.slack.com')).toEqual({ Authorization: 'Bearer xoxb-1' });
    expect(headers('FILES.SLACK.COM')).toEqual({ Authorization: 'Bearer xoxb-1' });
    expect(headers('files.slack.com.evil.net')).toBeUndefined();
    expect(headers('cdn.discordapp.com')).toBeUndefined();
    expect(slackHeadersForHost(configSchema.parse({}))).toBeUndefined();
  });
});

describe('seen events over time', () => {
  test('expired keys are dropped from the file as new ones come', () => {
    const clock = new VirtualClock();
    const file = join(mkdtempSync(join(tmpdir(), 'hearth-seen-')), 'seen.log');
    const seen = new SeenEvents({ clock, file, ttlMs: 1000 });
    seen.load();
    for (let i = 0; i < 5000; i++) {
      expect(seen.firstTime(`event:${i}`)).toBe(true);
      clock.advance(10);
    }
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
    expect(lines).toBeLessThan(1200);
    expect(seen.firstTime('event:4999')).toBe(false);
  });
});
