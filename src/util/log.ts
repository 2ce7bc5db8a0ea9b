import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Keys holding credentials (config keys, Slack's and Discord's names for them). */
const SECRET_KEYS = ['token', 'botToken', 'appToken', 'signingSecret', 'clientSecret', 'client_secret', 'password'];
const HEADER_KEYS = ['authorization', 'Authorization', 'cookie', 'Cookie'];

/**
 * Keys whose values never reach a log line, wherever they sit in a logged object (pino's redaction
 * needs each depth spelled out: up to three levels, e.g. `config.slack.signingSecret`, and headers as
 * HTTP clients' errors carry them, e.g. `err.config.headers.Authorization`).
 */
export const SECRET_PATHS: readonly string[] = [
  ...SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`]),
  ...HEADER_KEYS.flatMap((k) => [k, `*.${k}`, `headers.${k}`, `*.headers.${k}`, `*.*.headers.${k}`]),
];

/** The process logger: JSON lines on stderr (stdout stays for what the user reads), secrets redacted. */
export function createLogger(level: string, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino({ level, redact: { paths: [...SECRET_PATHS], censor: '***' }, base: null }, destination);
}

/** Characters of a base64url token part; a token ends where they end. */
const B64 = 'A-Za-z0-9_-';

/**
 * A Discord bot token: base64url of the bot's user id (17–20 digits, so 23–27 characters, starting
 * with M, N or O: ids starting 1–3, 4–7 or 8–9), a timestamp of 6–7 characters, and an HMAC of 27 or
 * more (38 in newer tokens).
 */
const DISCORD_TOKEN = new RegExp(`(?<![${B64}])[MNO][${B64}]{22,26}\\.[${B64}]{6,7}\\.[${B64}]{27,}(?![${B64}])`, 'g');

/** Removes anything that looks like a platform token from a free-form message (errors from libraries). */
export function scrubSecrets(text: string): string {
  return (
    text
      // Slack: bot, user, app-config, refresh and rotating tokens (xoxb-, xoxp-, xoxa-, xoxe-, xoxe.xoxp-…).
      .replace(/xox[a-z](?:\.xox[a-z])?-[A-Za-z0-9-]+/g, 'xox?-***')
      .replace(/xapp-[A-Za-z0-9-]+/g, 'xapp-***')
      .replace(DISCORD_TOKEN, '***discord-token***')
      // Interaction and webhook tokens travel in URL paths (discord.js errors and request logs carry them).
      .replace(/(\/(?:webhooks|interactions)\/\d+\/)[A-Za-z0-9_.-]{20,}/g, '$1***')
      // A password in a Redis URL (cluster.redisUrl): redis://:PASSWORD@host, redis://USER:PASSWORD@host.
      .replace(/\b(rediss?:\/\/[^:@/\s]*:)[^@\s]+@/g, '$1***@')
      // Credentials in headers, whatever their shape (the console's web.token may be any 16+ characters).
      .replace(/\b(Bot|Bearer|Basic)(\s+)[^\s"',;)]{8,}/g, '$1$2***')
      // A labelled secret: `?token=…`, `token: …`, `"signingSecret":"…"`, whatever its shape.
      .replace(
        /(\b(?:token|botToken|appToken|signingSecret|signing_secret|client_secret|clientSecret|password)"?\s*[:=]\s*"?)[^\s"&,;}]+/gi,
        '$1***',
      )
  );
}
