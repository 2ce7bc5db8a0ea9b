import { DiscordAPIError } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { discordFailure, isMessageGone, isTokenGone, redactPath } from '../../src/bots/discord/errors.js';

const TOKEN = 'aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OmFiY2RlZmdoaWprbG1ub3A';

describe('Discord errors', () => {
  it('never carries an interaction token into what is reported', () => {
    const e = new DiscordAPIError(
      { code: 50027, message: 'Invalid Webhook Token' },
      50027,
      401,
      'PATCH',
      `https://discord.com/api/v10/webhooks/123456789012345678/${TOKEN}/messages/@original`,
      { body: undefined, files: undefined },
    );
    const out = discordFailure(e, 'updating a reply');
    expect(out.message).toBe('updating a reply: Discord answered 401 (code 50027): Invalid Webhook Token [PATCH /api/v10/webhooks/123456789012345678/***/messages/@original]');
    expect(`${out.message}\n${out.stack}`).not.toContain(TOKEN);
    expect(isTokenGone(e)).toBe(true);
    expect(isMessageGone(e)).toBe(false);
  });

  it('redacts tokens from callback paths and from other errors', () => {
    expect(redactPath(`POST /interactions/1234/${TOKEN}/callback`)).toBe('POST /interactions/1234/***/callback');
    const out = discordFailure(new Error(`connect ECONNREFUSED for /webhooks/99/${TOKEN}`), 'sending');
    expect(out.message).not.toContain(TOKEN);
  });

  it('tells a deleted message from an expired token', () => {
    const e = new DiscordAPIError({ code: 10008, message: 'Unknown Message' }, 10008, 404, 'PATCH', 'https://x/api/v10/channels/1/messages/2', { body: undefined, files: undefined });
    expect(isMessageGone(e)).toBe(true);
    expect(isTokenGone(e)).toBe(false);
  });
});
