import { describe, expect, test } from 'vitest';
import { sourcesLine } from '../../src/bots/slack/sources.js';
import { sourcesOf } from '../../src/views/sources.js';

const at = Date.UTC(2024, 2, 5, 12);

describe('sources under a Slack answer', () => {
  test('mrkdwn links for edited messages, markdown links for streams; labels cannot break out', () => {
    const sources = [
      { url: 'https://t.slack.com/archives/C1/p1', author: 'Ada <@here> | x', at, channel: 'C1' },
      { url: 'https://t.slack.com/archives/C1/p2?thread_ts=1.2&cid=C1', author: 'Bo [b](evil)', at, channel: 'C1' },
    ];
    expect(sourcesLine(sources, 'mrkdwn')).toBe(
      '*Sources:* <https://t.slack.com/archives/C1/p1|1. Ada &lt;@here&gt; / x, 2024-03-05> · <https://t.slack.com/archives/C1/p2?thread_ts=1.2&cid=C1|2. Bo [b](evil), 2024-03-05>',
    );
    expect(sourcesLine(sources, 'markdown')).toBe(
      '**Sources:** [1. Ada <\u200b@here> | x, 2024-03-05](https://t.slack.com/archives/C1/p1) · [2. Bo b(evil), 2024-03-05](https://t.slack.com/archives/C1/p2?thread_ts=1.2&cid=C1)',
    );
  });

  test('a chat job carries its sources in its payload; other jobs have none', () => {
    const source = { url: 'https://x/p1', author: 'Ada', at, channel: 'C1' };
    expect(sourcesOf({ kind: 'chat', payload: { messages: [{ role: 'user', content: 'q' }], sources: [source] } })).toEqual([source]);
    expect(sourcesOf({ kind: 'chat', payload: { messages: [{ role: 'user', content: 'q' }] } })).toEqual([]);
    expect(sourcesOf({ kind: 'image', payload: { prompt: 'x' } })).toEqual([]);
    expect(sourcesOf(undefined)).toEqual([]);
  });
});
