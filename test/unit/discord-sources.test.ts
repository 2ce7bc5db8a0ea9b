import { describe, expect, test } from 'vitest';
import { sourcesLine } from '../../src/bots/discord/sources.js';
import { discordMessageLink, indexableDiscordMessage } from '../../src/knowledge/discord-messages.js';

const at = Date.UTC(2024, 2, 5, 12);

describe('sources under a Discord answer', () => {
  test('numbered masked links that do not unfurl; labels cannot break out of their link or ping', () => {
    const sources = [
      { url: discordMessageLink('1', '2', '3'), author: 'Ada @everyone', at, channel: '2' },
      { url: discordMessageLink('1', '4', '5'), author: 'Bo [b](<https://evil>) **x**', at, channel: '2' },
    ];
    expect(sourcesLine(sources)).toBe(
      '**Sources:** [1. Ada @\u200beveryone, 2024-03-05](<https://discord.com/channels/1/2/3>) · [2. Bo bhttps://evil x, 2024-03-05](<https://discord.com/channels/1/4/5>)',
    );
  });
});

describe('which Discord messages are indexed', () => {
  const where = { guild: 'G', channel: 'C', botUserId: 'BOT' };
  const msg = (extra: Record<string, unknown>) => ({ id: '1200000000000000000', channel_id: 'C', author: { id: 'U', username: 'ada', global_name: 'Ada' }, content: 'hello <@22> in <#33>', type: 0, timestamp: '2024-03-05T12:00:00.000Z', mentions: [{ id: '22', username: 'bo' }], ...extra });

  test('what people said, mentions as names, linked in its channel (or its thread)', () => {
    expect(indexableDiscordMessage(msg({}), where)).toEqual({
      platform: 'discord', workspace: 'G', channel: 'C', messageId: '1200000000000000000', author: 'U', authorName: 'Ada', at, text: 'hello @bo in #channel',
      permalink: 'https://discord.com/channels/G/C/1200000000000000000',
    });
    expect(indexableDiscordMessage(msg({ channel_id: 'T' }), { ...where, thread: 'T' })).toMatchObject({ channel: 'C', threadId: 'T', permalink: 'https://discord.com/channels/G/T/1200000000000000000' });
  });

  test("not hearth's own answers, questions to hearth, system messages or empty ones", () => {
    expect(indexableDiscordMessage(msg({ author: { id: 'BOT', username: 'hearth' } }), where)).toBeUndefined();
    expect(indexableDiscordMessage(msg({ mentions: [{ id: 'BOT', username: 'hearth' }] }), where)).toBeUndefined();
    expect(indexableDiscordMessage(msg({ type: 7 }), where)).toBeUndefined();
    expect(indexableDiscordMessage(msg({ content: '   ' }), where)).toBeUndefined();
  });
});
