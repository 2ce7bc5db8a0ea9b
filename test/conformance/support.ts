/** Small helpers the conformance drivers and the suite share. */
import type { HearthApp } from '../../src/app/hearth-app.js';
import type { JobKind, JobRecord } from '../../src/engine/types.js';

/** Polls until `fn` gives something truthy; fails naming `what` (and what `last` says was seen). */
export async function waitUntil<T>(what: string, fn: () => T | undefined | null | false, opts: { ms?: number; last?: () => string } = {}): Promise<T> {
  const until = Date.now() + (opts.ms ?? 10_000);
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${opts.last ? `; saw: ${opts.last().slice(0, 2000)}` : ''}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** {@link waitUntil} for a condition that is read asynchronously (what a face shows). */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, opts: { ms?: number; last?: () => Promise<string> } = {}): Promise<T> {
  const until = Date.now() + (opts.ms ?? 10_000);
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${opts.last ? `; saw: ${(await opts.last()).slice(0, 2000)}` : ''}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The ids of a user's jobs of one kind, newest first. */
export function jobIds(app: HearthApp, userId: string, kind?: JobKind): string[] {
  return app.store
    .listJobs({ userId, order: 'recent' })
    .filter((j) => !kind || j.kind === kind)
    .map((j) => j.id);
}

/** Waits for a job of the user that was not there before (`before`: ids seen earlier). */
export async function newJob(app: HearthApp, userId: string, kind: JobKind, before: ReadonlySet<string>, what: string): Promise<JobRecord> {
  const id = await waitUntil(`a new ${kind} job (${what})`, () => jobIds(app, userId, kind).find((j) => !before.has(j)));
  return app.engine.getJob(id) ?? app.store.listJobs({ userId }).find((j) => j.id === id)!;
}

export function isFinal(app: HearthApp, jobId: string): boolean {
  const s = app.engine.getJob(jobId)?.state;
  return s === 'done' || s === 'failed' || s === 'cancelled';
}

/**
 * The versions of a streamed answer that show answer text: entries of the messages' histories
 * (in order) that start with the answer's first word, each prefixed by the finished parts before it.
 * `clean` removes the platform's decorations (a typing cursor).
 */
export function answerViews(parts: Array<{ history: string[]; final: string }>, finalText: string, clean: (s: string) => string = (s) => s): string[] {
  const first = finalText.trimStart().split(/\s+/)[0] ?? '';
  const out: string[] = [];
  let before = '';
  for (const [i, p] of parts.entries()) {
    for (const h of p.history) {
      const v = clean(h);
      if (i === 0 ? v.startsWith(first) : v.length > 0) out.push(before + v);
    }
    before += p.final;
  }
  return out;
}

/** Renders recorded data as text for scanning, leaving out bytes (images are not words). */
export function textOf(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v instanceof Uint8Array) return `<${v.byteLength} bytes>`;
    // A Buffer has already been turned into { type: 'Buffer', data } by its toJSON.
    if (typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) return '<bytes>';
    return v;
  });
}
