import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Keys whose values never reach a log line, wherever they sit in a logged object. */
const SECRET_PATHS = [
  'token', '*.token', '*.*.token', 'botToken', '*.botToken', 'appToken', '*.appToken',
  'signingSecret', '*.signingSecret', 'authorization', '*.authorization', 'headers.authorization',
  '*.headers.authorization', 'Authorization', '*.Authorization',
];

/** The process logger: JSON lines on stderr (stdout stays for what the user reads), secrets redacted. */
export function createLogger(level: string, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino({ level, redact: { paths: SECRET_PATHS, censor: '***' }, base: null }, destination);
}

/** Removes anything that looks like a platform token from a free-form message (errors from libraries). */
export function scrubSecrets(text: string): string {
  return text
    .replace(/xox[abposr]-[A-Za-z0-9-]+/g, 'xox?-***')
    .replace(/xapp-[A-Za-z0-9-]+/g, 'xapp-***')
    .replace(/\b[MN][A-Za-z\d_-]{23,25}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,}\b/g, '***discord-token***')
    .replace(/(Bot|Bearer)\s+[A-Za-z0-9._-]{20,}/g, '$1 ***');
}
