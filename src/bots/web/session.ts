import { createHmac, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sameSecret } from './secrets.js';

/** The console's signing key, in dataDir (mode 0600): sessions and sign-in cookies stay valid across restarts. */
export const SECRET_FILE = 'web-console.key';
const SECRET_BYTES = 32;
const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;
const MAC = /^[A-Za-z0-9_-]{43}$/;

/**
 * Reads the console's secret from dataDir, or makes one (32 random bytes, file mode 0600, dataDir 0700
 * when it is created here). A file that is too short is replaced.
 */
export async function loadConsoleSecret(dataDir: string): Promise<Buffer> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, SECRET_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    const existing = await readFile(path).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (existing && existing.byteLength >= SECRET_BYTES) {
      await chmod(path, 0o600);
      return existing;
    }
    const fresh = randomBytes(SECRET_BYTES);
    try {
      // A short file (a crash while writing) is replaced; otherwise another process may be writing it too.
      await writeFile(path, fresh, { mode: 0o600, flag: existing ? 'w' : 'wx' });
      await chmod(path, 0o600);
      return fresh;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  throw new Error(`could not read or create the web console's key file ${path}`);
}

/**
 * Signs and checks what the console hands to browsers, with the secret from {@link loadConsoleSecret}.
 *
 * A browser session is a random id the server issued, signed: `ID.MAC`. The id is the credential
 * (it opens that session's conversation, cards and images), so it never leaves the cookie: everything
 * else (the job's stored origin, the conversation id, event routing) uses the session's *key*, an HMAC
 * of the id that cannot be turned back into a cookie.
 */
export class ConsoleKeys {
  readonly #secret: Buffer;

  constructor(secret: Buffer) {
    this.#secret = secret;
  }

  /** HMAC-SHA256 of `value` for one purpose, base64url (43 characters). */
  mac(purpose: string, value: string): string {
    return createHmac('sha256', this.#secret).update(`hearth web ${purpose} v1\u0000${value}`).digest('base64url');
  }

  /** A new session: the cookie's value, and its key. */
  issueSession(): { cookie: string; key: string } {
    const id = randomBytes(16).toString('base64url');
    return { cookie: `${id}.${this.mac('session', id)}`, key: this.#keyOf(id) };
  }

  /** The key of a session cookie this console issued; undefined for anything else (made up, altered, another hearth's). */
  sessionKey(cookie: string | undefined): string | undefined {
    if (cookie === undefined) return undefined;
    const dot = cookie.indexOf('.');
    const id = cookie.slice(0, dot);
    const mac = cookie.slice(dot + 1);
    if (dot < 0 || !SESSION_ID.test(id) || !MAC.test(mac)) return undefined;
    return sameSecret(mac, this.mac('session', id)) ? this.#keyOf(id) : undefined;
  }

  #keyOf(id: string): string {
    return this.mac('session key', id).slice(0, 22);
  }
}
