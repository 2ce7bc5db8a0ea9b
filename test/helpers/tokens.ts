/**
 * Credentials in the shapes the platforms really issue, for fakes and log checks: a scrubber tested
 * only on `fake-token` proves nothing about `MTA…`, `OD…` or `xoxe.xoxp-…`.
 */
import { randomBytes } from 'node:crypto';

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function chars(n: number, alphabet = B64URL): string {
  const bytes = randomBytes(n);
  let out = '';
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}

/**
 * A Discord bot token for a user id: base64url(id) without padding, a 6-character timestamp and an
 * HMAC (27 characters in older tokens, 38 in newer). Ids starting 1–3 give "M…", 4–7 "N…", 8–9 "O…".
 */
export function discordToken(userId: string, hmacLength: 27 | 38 = 38): string {
  return `${Buffer.from(userId).toString('base64url')}.${chars(6)}.${chars(hmacLength)}`;
}

/** A Discord user id (snowflake) of `digits` digits starting with `first`. */
export function discordId(first: string, digits = 18): string {
  return first + chars(digits - 1, '0123456789');
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export const slackTokens = {
  /** Bot token: xoxb-{team}-{bot}-{24 alnum}. */
  bot: () => `xoxb-${chars(10, '0123456789')}-${chars(13, '0123456789')}-${chars(24, ALNUM)}`,
  /** User token: xoxp-{team}-{user}-{id}-{32 hex}. */
  user: () => `xoxp-${chars(10, '0123456789')}-${chars(11, '0123456789')}-${chars(13, '0123456789')}-${chars(32, '0123456789abcdef')}`,
  /** App-level token (Socket Mode): xapp-1-{app id}-{n}-{64 hex}. */
  app: () => `xapp-1-A${chars(10, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789')}-${chars(13, '0123456789')}-${chars(64, '0123456789abcdef')}`,
  /** Refresh token of token rotation: xoxe-1-{base64ish}. */
  refresh: () => `xoxe-1-${chars(140, ALNUM)}`,
  /** Rotating (expiring) bot access token: xoxe.xoxb-1-{base64ish}. */
  rotatingBot: () => `xoxe.xoxb-1-${chars(140, ALNUM)}`,
  /** Signing secret: 32 hex characters. */
  signingSecret: () => chars(32, '0123456789abcdef'),
};

/** A web console token as a person picks one: any 16+ characters. */
export function consoleToken(length = 20): string {
  return chars(length, ALNUM);
}

/**
 * A full set of credentials in the platforms' real shapes, as config sections and as the labelled
 * secrets a log scan looks for: for harnesses that start no platform (the GPU worker, the console
 * alone), so the scan still has each platform's tokens to look for in what hearth logged with them
 * in its config.
 */
export function configCredentials(): { config: { discord: Record<string, string>; slack: Record<string, string> }; secrets: Record<string, string> } {
  const applicationId = discordId('8');
  const discord = { token: discordToken(applicationId), applicationId };
  const slack = { botToken: slackTokens.bot(), appToken: slackTokens.app(), signingSecret: slackTokens.signingSecret() };
  return {
    config: { discord, slack },
    secrets: { 'discord.token': discord.token, 'slack.botToken': slack.botToken, 'slack.appToken': slack.appToken, 'slack.signingSecret': slack.signingSecret },
  };
}
