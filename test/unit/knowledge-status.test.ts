/**
 * The knowledge status as each platform lays it out: the same words (src/commands/knowledge-admin.ts),
 * a bold headline, and a long channel list fitted to the platform's message size by whole lines.
 */
import { describe, expect, test } from 'vitest';
import { knowledgeStatusMessage as discordStatus } from '../../src/bots/discord/knowledge-status.js';
import { knowledgeStatusMessage as slackStatus } from '../../src/bots/slack/knowledge-status.js';
import type { KnowledgeChannelView, KnowledgeStatusView } from '../../src/commands/knowledge-admin.js';

const NOW = 1_800_000_000_000;

function channels(n: number, vectors?: (i: number) => number): KnowledgeChannelView[] {
  return Array.from({ length: n }, (_, i) => ({
    channel: `C${String(i).padStart(9, '0')}`,
    messages: 1000 + i,
    ...(vectors ? { vectors: vectors(i) } : {}),
    backfilled: i % 2 === 0,
    private: i % 5 === 0,
    lastSyncAt: NOW - 120_000,
    configured: true,
  }));
}

function view(list: KnowledgeChannelView[], semantic: KnowledgeStatusView['semantic']): KnowledgeStatusView {
  return { configuredChannels: list.length, channels: list, messages: list.reduce((n, c) => n + c.messages, 0), lastSyncAt: NOW - 60_000, semantic };
}

describe('knowledge status layout', () => {
  test('vectors per channel and in total; what is still waiting is counted', () => {
    const list = channels(2, (i) => (i === 0 ? 1000 : 1)); // 1000 + 1001 messages, 1001 vectors
    const text = slackStatus(view(list, { on: true, model: 'all-MiniLM-L6-v2', dir: '/d/models/embedding/all-MiniLM-L6-v2', vectors: 1001 }), NOW);
    expect(text.split('\n')).toEqual([
      '*Workspace knowledge: 2001 messages in 2 channels, last synced 1 min ago.*',
      'Search by meaning: on, with all-MiniLM-L6-v2 (/d/models/embedding/all-MiniLM-L6-v2): 1001 of 2001 messages have vectors (1000 waiting).',
      '• <#C000000000>: 1000 messages, 1000 with vectors, history read, synced 2 min ago (private)',
      '• <#C000000001>: 1001 messages, 1 with vectors, reading history, synced 2 min ago',
    ]);
  });

  test('off: full text only, and no vector counts', () => {
    const text = discordStatus(view(channels(1), { on: false }), NOW);
    expect(text.split('\n')).toEqual([
      '**Workspace knowledge: 1000 messages in 1 channel, last synced 1 min ago.**',
      'Search by meaning: off: full text only (no models.embedding.dir; `hearth models pull --defaults` downloads one).',
      '• <#C000000000>: 1000 messages, history read, synced 2 min ago (private)',
    ]);
  });

  test('a platform with no channels configured is told knowledge is off there, in one line', () => {
    const v: KnowledgeStatusView = { configuredChannels: 0, channels: [], messages: 0, semantic: { on: false } };
    expect(discordStatus(v, NOW)).toBe('**Workspace knowledge is off here: the config lists no channels to index for this platform.**');
    expect(slackStatus(v, NOW)).toBe('*Workspace knowledge is off here: the config lists no channels to index for this platform.*');
  });

  test('a long list fits Discord’s 2,000 and Slack’s 3,000 characters by whole lines, and says how many were left out', () => {
    const v = view(channels(60, () => 1000), { on: true, model: 'm', dir: '/m', vectors: 60_000 });
    for (const [text, max] of [[discordStatus(v, NOW), 2000], [slackStatus(v, NOW)]] as const) {
      const limit = max ?? 3000;
      expect(text.length).toBeLessThanOrEqual(limit);
      const lines = text.split('\n');
      const shown = lines.filter((l) => l.startsWith('• '));
      expect(shown.length).toBeGreaterThan(5);
      expect(shown.every((l) => /^• <#C\d{9}>: \d+ messages, 1000 with vectors, /.test(l))).toBe(true);
      expect(lines.at(-1)).toBe(`…and ${60 - shown.length} more channels`);
      // Nearly full: one more channel line would not have fitted.
      expect(text.length + (shown[0]!.length + 1)).toBeGreaterThan(limit);
    }
  });
});
