import { randomBytes } from 'node:crypto';
import type { Clock } from '../../engine/clock.js';

interface Upload {
  session: string;
  bytes: Uint8Array;
  at: number;
}

const TTL_MS = 15 * 60_000;

/**
 * Images a browser uploaded and has not used yet (a caption or a chat message takes one). Held in
 * memory for a few minutes only, a few per session and a bounded number in all, so memory stays
 * under `maxEntries × files.maxBytes`.
 */
export class UploadStore {
  readonly #uploads = new Map<string, Upload>();
  readonly #clock: Clock;
  readonly #perSession: number;
  readonly #maxEntries: number;

  constructor(clock: Clock, opts: { perSession?: number; maxEntries?: number } = {}) {
    this.#clock = clock;
    this.#perSession = opts.perSession ?? 4;
    this.#maxEntries = opts.maxEntries ?? 32;
  }

  /** Keeps the bytes and returns their id. The session's (and then everyone's) oldest upload makes room. */
  put(session: string, bytes: Uint8Array): string {
    this.#expire();
    const mine = [...this.#uploads].filter(([, u]) => u.session === session);
    if (mine.length >= this.#perSession) this.#uploads.delete(mine[0]![0]);
    if (this.#uploads.size >= this.#maxEntries) this.#uploads.delete(this.#uploads.keys().next().value!);
    const id = randomBytes(12).toString('base64url');
    this.#uploads.set(id, { session, bytes, at: this.#clock.now() });
    return id;
  }

  /** Takes (and forgets) an upload of this session. */
  take(session: string, id: string): Uint8Array | undefined {
    this.#expire();
    const u = this.#uploads.get(id);
    if (!u || u.session !== session) return undefined;
    this.#uploads.delete(id);
    return u.bytes;
  }

  clear(): void {
    this.#uploads.clear();
  }

  #expire(): void {
    const cutoff = this.#clock.now() - TTL_MS;
    for (const [id, u] of this.#uploads) if (u.at < cutoff) this.#uploads.delete(id);
  }
}
