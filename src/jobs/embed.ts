/**
 * The embed job (workspace knowledge): a batch of texts in, one unit vector per text out. The
 * knowledge index submits these for the messages it holds (backfill and live updates) and for a
 * question it searches with; the embedding runner in the GPU worker answers them.
 *
 * The vectors travel in the result's `meta` as base64 of little-endian float32s (`vectors`), with
 * their width (`dims`) and count (`count`): JSON numbers would be about three times the size.
 */
import { z } from 'zod';
import type { JobKind, JobResult, Json, Result } from '../engine/types.js';
import { chars, describe, given, isRecord, parseWith, type IssueParams, type Refusal } from './contract.js';

/** Most texts one embed job carries. */
export const MAX_EMBED_TEXTS = 64;
/**
 * Longest text, in characters. A message past it is cut before it is sent (models read ~256–512
 * tokens; what is past that would be truncated by the tokenizer anyway).
 */
export const MAX_EMBED_TEXT_CHARS = 2000;

/** An embed job's payload. */
export interface EmbedPayload {
  /** The texts to embed, in order; the result's vectors come in the same order. */
  texts: string[];
}

export interface EmbedLimits {
  maxTexts?: number;
  maxTextChars?: number;
}

function allowedOf(maxTexts: number, maxChars: number) {
  return (option: string): Json => (option === 'texts' ? `1–${maxTexts} texts` : option.startsWith('texts[') ? maxChars : 'an object with texts');
}

/** The embed payload's zod schema. */
export function embedPayloadSchema(limits: EmbedLimits = {}) {
  const maxTexts = limits.maxTexts ?? MAX_EMBED_TEXTS;
  const maxChars = limits.maxTextChars ?? MAX_EMBED_TEXT_CHARS;
  const text = z.string({ error: (iss) => `each text must be text; got ${describe(iss.input)}` }).superRefine((v, ctx) => {
    const n = chars(v);
    if (n <= maxChars) return;
    const params: IssueParams = { code: 'PROMPT_TOO_LONG', given: n, allowed: maxChars };
    ctx.addIssue({ code: 'custom', input: v, message: `a text is ${n} characters; the limit is ${maxChars}`, params });
  });
  const shape = z.object(
    {
      texts: z
        .array(text, { error: (iss) => `texts must be a list of texts; got ${describe(iss.input)}` })
        .min(1, { error: 'an embed job needs at least one text' })
        .max(maxTexts, { error: (iss) => `an embed job takes at most ${maxTexts} texts; got ${describe(iss.input)}` }),
    },
    { error: (iss) => `an embed job needs an object with texts; got ${describe(iss.input)}` },
  );
  return z.preprocess((v) => (isRecord(v) ? given(v) : v), shape);
}

/** Checks an embed payload: 1…{@link MAX_EMBED_TEXTS} texts of at most {@link MAX_EMBED_TEXT_CHARS} characters. */
export function parseEmbedPayload(json: Json, limits: EmbedLimits = {}): Result<EmbedPayload, Refusal> {
  const parsed = parseWith(embedPayloadSchema(limits), json, allowedOf(limits.maxTexts ?? MAX_EMBED_TEXTS, limits.maxTextChars ?? MAX_EMBED_TEXT_CHARS));
  return parsed.ok ? { ok: true, value: { texts: parsed.value.texts } } : parsed;
}

/** A text as an embed job takes it: cut at {@link MAX_EMBED_TEXT_CHARS} code points. */
export function clipForEmbedding(text: string, maxChars = MAX_EMBED_TEXT_CHARS): string {
  if (text.length <= maxChars) return text;
  return [...text].slice(0, maxChars).join('');
}

/** The vectors of an embed job's result, as the runner writes them into `meta`. */
export function embedResultMeta(vectors: Float32Array, dims: number, model: string): Record<string, Json> {
  const bytes = Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength);
  return { model, dims, count: vectors.length / dims, vectors: bytes.toString('base64') };
}

/** The vectors of an ended embed job, or undefined when the result holds none that fit. */
export function embedVectorsOf(job: { kind: JobKind }, result: JobResult | null | undefined): { dims: number; vectors: Float32Array[] } | undefined {
  const meta = result?.meta;
  if (job.kind !== 'embed' || !meta) return undefined;
  const { dims, count, vectors } = meta;
  if (typeof dims !== 'number' || typeof count !== 'number' || typeof vectors !== 'string' || !Number.isInteger(dims) || dims <= 0) return undefined;
  const bytes = Buffer.from(vectors, 'base64');
  if (bytes.byteLength !== dims * count * 4) return undefined;
  // Copied into an aligned buffer: a Buffer's offset need not be a multiple of 4.
  const all = new Float32Array(new Uint8Array(bytes).buffer);
  const out: Float32Array[] = [];
  for (let i = 0; i < count; i++) out.push(all.slice(i * dims, (i + 1) * dims));
  return { dims, vectors: out };
}
