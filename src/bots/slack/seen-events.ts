import { appendFileSync, chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Clock } from '../../engine/clock.js';

/** Slack retries an event three times within about five minutes; an hour covers that with room. */
export const SEEN_TTL_MS = 60 * 60 * 1000;

/**
 * The Slack deliveries already taken (event ids, trigger ids, message timestamps), so a retry or a
 * second delivery of the same message never starts a job twice.
 *
 * Kept in memory for {@link SEEN_TTL_MS}, and appended to a small file when one is given, so a retry
 * that arrives after a restart is still recognized. Each line is `expiresAt key`; the file is
 * compacted on load. Marking happens before the job is submitted: a crash between the two loses
 * that one request (it was acknowledged already) rather than running it twice.
 */
export class SeenEvents {
  readonly #seen = new Map<string, number>();
  readonly #clock: Clock;
  readonly #file: string | undefined;
  readonly #ttl: number;
  /** Keys added (lines in the file, live or expired) since it was last rewritten. */
  #appended = 0;

  constructor(opts: { clock: Clock; file?: string; ttlMs?: number }) {
    this.#clock = opts.clock;
    this.#file = opts.file;
    this.#ttl = opts.ttlMs ?? SEEN_TTL_MS;
  }

  /** Loads and compacts the file. A missing or damaged file starts empty (it only guards retries). */
  load(): void {
    if (!this.#file) return;
    const now = this.#clock.now();
    let text = '';
    try {
      text = readFileSync(this.#file, 'utf8');
    } catch {
      // No file yet.
    }
    for (const line of text.split('\n')) {
      const space = line.indexOf(' ');
      if (space <= 0) continue;
      const expires = Number(line.slice(0, space));
      if (Number.isFinite(expires) && expires > now) this.#seen.set(line.slice(space + 1), expires);
    }
    this.#rewrite();
  }

  /** True the first time a key is seen (within the TTL); false for a repeat. */
  firstTime(rawKey: string): boolean {
    const key = rawKey.replace(/\s/g, '_');
    const now = this.#clock.now();
    const expires = this.#seen.get(key);
    if (expires !== undefined && expires > now) return false;
    const until = now + this.#ttl;
    this.#seen.set(key, until);
    if (this.#file) appendFileSync(this.#file, `${until} ${key}\n`, { mode: 0o600 });
    this.#appended++;
    // Every so often, expired keys leave memory, and the file once they are the bulk of it.
    if (this.#appended % 1000 === 0 && this.#appended > 2 * this.#live(now)) this.#rewrite();
    return true;
  }

  #live(now: number): number {
    for (const [k, e] of this.#seen) if (e <= now) this.#seen.delete(k);
    return this.#seen.size;
  }

  #rewrite(): void {
    this.#live(this.#clock.now());
    this.#appended = this.#seen.size;
    if (!this.#file) return;
    mkdirSync(dirname(this.#file), { recursive: true, mode: 0o700 });
    writeFileSync(this.#file, [...this.#seen].map(([k, e]) => `${e} ${k}\n`).join(''), { mode: 0o600 });
    chmodSync(this.#file, 0o600);
  }
}
