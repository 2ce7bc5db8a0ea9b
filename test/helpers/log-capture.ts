/**
 * hearth's real logger (src/util/log.ts: redaction and all) writing into memory, so a test can read
 * what hearth would have written to stderr, and check that no credential got there.
 */
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/util/log.js';

export class LogCapture {
  readonly lines: string[] = [];
  readonly log: Logger;
  readonly #stream: Writable;

  /** `debug` by default: the most a user would turn on, so the most that could leak. */
  constructor(level = 'debug') {
    this.#stream = new Writable({
      write: (chunk: Buffer | string, _enc, done) => {
        for (const line of String(chunk).split('\n')) if (line.length > 0) this.lines.push(line);
        done();
      },
    });
    this.log = createLogger(level, this.#stream);
  }

  get text(): string {
    return this.lines.join('\n');
  }

  /** Parsed lines (pino writes one JSON object a line). */
  entries(): Array<Record<string, unknown>> {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /**
   * Throws when any secret (or a long enough piece of one: a token cut by a message's length limit
   * still gives itself away) appears in what was logged. Names the secret's label, never its value.
   */
  assertNoSecrets(secrets: Record<string, string | undefined>): void {
    const found = leaks(this.text, secrets);
    if (found.length > 0) throw new Error(`credentials reached the log: ${found.join(', ')} (${this.lines.length} lines captured)`);
  }
}

/** Labels of the secrets whose value, or a 16-character piece of it, occurs in `text`. */
export function leaks(text: string, secrets: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  for (const [label, secret] of Object.entries(secrets)) {
    if (!secret) continue;
    if (text.includes(secret)) {
      out.push(label);
      continue;
    }
    // The distinctive parts of a token: its pieces between separators, when long enough to be its own.
    const pieces = secret.split(/[.-]/).filter((p) => p.length >= 16);
    if (pieces.some((p) => text.includes(p))) out.push(`${label} (a part)`);
  }
  return out;
}
