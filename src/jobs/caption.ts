/**
 * The caption job (/caption, and an image in /ask): its payload, its limits, and the one check that
 * commands, the runner and the adapters share.
 *
 * The byte cap of the image is not here: it is `files.maxBytes` where the command downloads it and
 * the worker's own setting where the runner reads it, and it is measured on bytes, not on options.
 */
import { z } from 'zod';
import type { JobKind, Json, Result } from '../engine/types.js';
import { chars, describe, given, isRecord, parseWith, type IssueParams, type Refusal } from './contract.js';

/** How much a caption says. */
export const CAPTION_DETAILS = ['short', 'detailed'] as const;
export type CaptionDetail = (typeof CAPTION_DETAILS)[number];
export const DEFAULT_CAPTION_DETAIL: CaptionDetail = 'short';
/** Longest question about an image, in characters, as a command takes it. */
export const MAX_CAPTION_QUESTION_CHARS = 500;
/** The keys that name the image; a payload has exactly one. */
export const CAPTION_IMAGE_SOURCES = ['imageBase64', 'imagePath'] as const;

/** A caption job's payload. Exactly one image source. */
export interface CaptionPayload {
  /** The image's bytes, base64 (whitespace removed). */
  imageBase64?: string;
  /** An absolute path on the worker's machine (e.g. a download saved under dataDir). */
  imagePath?: string;
  /** Content type or file name the image came with; the runner refuses bytes that are something else. */
  declaredType?: string;
  /** A question about the image (trimmed; none when blank). */
  question?: string;
  detail: CaptionDetail;
  /**
   * The description of an image attached to a question: the question's answer shows it (a helper
   * job, folded into the chat's view) instead of answering on its own.
   */
  forChat?: true;
}

/** The options a person gives with an image. */
export interface CaptionOptions {
  question?: string;
  detail: CaptionDetail;
}

export interface CaptionLimits {
  /** Default: {@link MAX_CAPTION_QUESTION_CHARS}. */
  maxQuestionChars?: number;
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
// POSIX, a Windows drive, or a UNC share: the worker may run on either.
const ABSOLUTE_PATH = /^(?:\/|[A-Za-z]:[\\/]|\\\\)/;

function allowedOf(maxQuestionChars: number) {
  return (option: string): Json => {
    switch (option) {
      case 'question':
        return maxQuestionChars;
      case 'detail':
        return [...CAPTION_DETAILS];
      case 'imageBase64':
        return 'base64 text';
      case 'imagePath':
        return 'an absolute path';
      case 'declaredType':
        return 'text';
      default:
        return `an object with exactly one of ${CAPTION_IMAGE_SOURCES.join(', ')}`;
    }
  };
}

function question(max: number) {
  return z
    .string({ error: (iss) => `the question must be text; got ${describe(iss.input)}` })
    .transform((v) => v.trim())
    .superRefine((v, ctx) => {
      const n = chars(v);
      if (n <= max) return;
      const params: IssueParams = { code: 'PROMPT_TOO_LONG', given: n, allowed: max };
      ctx.addIssue({ code: 'custom', input: v, message: `the question is ${n} characters; the limit is ${max}`, params });
    })
    .transform((v) => (v === '' ? undefined : v));
}

const detail = z.enum(CAPTION_DETAILS, { error: (iss) => `detail must be short or detailed; got ${describe(iss.input)}` });

/** The caption payload's zod schema (null and absent are the same: not given). */
export function captionPayloadSchema(limits: CaptionLimits = {}) {
  const max = limits.maxQuestionChars ?? MAX_CAPTION_QUESTION_CHARS;
  const shape = z
    .object(
      {
        imageBase64: z
          .string({ error: (iss) => `imageBase64 must be text; got ${describe(iss.input)}` })
          .transform((v) => v.replace(/\s+/g, ''))
          .refine((v) => BASE64.test(v), { error: 'imageBase64 is not base64' })
          .optional(),
        imagePath: z
          .string({ error: (iss) => `imagePath must be text; got ${describe(iss.input)}` })
          .refine((v) => ABSOLUTE_PATH.test(v), { error: (iss) => `imagePath must be an absolute path; got ${describe(iss.input)}` })
          .optional(),
        declaredType: z.string({ error: (iss) => `declaredType must be text; got ${describe(iss.input)}` }).optional(),
        question: question(max).optional(),
        detail: detail.default(DEFAULT_CAPTION_DETAIL),
        forChat: z.literal(true, { error: (iss) => `forChat must be true or absent; got ${describe(iss.input)}` }).optional(),
      },
      { error: (iss) => `a caption job needs an object with imageBase64 or imagePath; got ${describe(iss.input)}` },
    )
    .superRefine((p, ctx) => {
      const sources = CAPTION_IMAGE_SOURCES.filter((k) => p[k] !== undefined).length;
      if (sources === 1) return;
      const params: IssueParams = { given: sources, allowed: 1 };
      ctx.addIssue({ code: 'custom', path: ['image'], input: p, params, message: `give exactly one image source (imageBase64 or imagePath); got ${sources}` });
    });
  return z.preprocess((v) => (isRecord(v) ? given(v) : v), shape);
}

function withoutUndefined(p: { imageBase64?: string | undefined; imagePath?: string | undefined; declaredType?: string | undefined; question?: string | undefined; detail: CaptionDetail; forChat?: true | undefined }): CaptionPayload {
  const out: CaptionPayload = { detail: p.detail };
  if (p.forChat) out.forChat = true;
  if (p.imageBase64 !== undefined) out.imageBase64 = p.imageBase64;
  if (p.imagePath !== undefined) out.imagePath = p.imagePath;
  if (p.declaredType !== undefined) out.declaredType = p.declaredType;
  if (p.question !== undefined) out.question = p.question;
  return out;
}

/**
 * Checks a caption payload: exactly one image source (base64 text or an absolute path), a question
 * within `maxQuestionChars` (PROMPT_TOO_LONG), a known detail level. Facts name the option, what was
 * given and what is allowed.
 */
export function parseCaptionPayload(json: Json, limits: CaptionLimits = {}): Result<CaptionPayload, Refusal> {
  const max = limits.maxQuestionChars ?? MAX_CAPTION_QUESTION_CHARS;
  const parsed = parseWith(captionPayloadSchema(limits), json, allowedOf(max));
  return parsed.ok ? { ok: true, value: withoutUndefined(parsed.value) } : parsed;
}

/**
 * The options given with an image (a command checks them before it downloads anything). Values
 * are checked, not trusted: a form may send anything.
 */
export function parseCaptionOptions(input: { question?: unknown; detail?: unknown }, limits: CaptionLimits = {}): Result<CaptionOptions, Refusal> {
  const max = limits.maxQuestionChars ?? MAX_CAPTION_QUESTION_CHARS;
  const schema = z.object({ question: question(max).optional(), detail: detail.default(DEFAULT_CAPTION_DETAIL) });
  const parsed = parseWith(schema, given({ question: input.question, detail: input.detail }), allowedOf(max));
  if (!parsed.ok) return parsed;
  return { ok: true, value: { detail: parsed.value.detail, ...(parsed.value.question !== undefined ? { question: parsed.value.question } : {}) } };
}

/** The payload of a caption job for image bytes the command has (downloaded under the byte cap, or uploaded). */
export function buildCaptionPayload(
  image: { bytes: Uint8Array; declaredType?: string | null },
  options: { question?: unknown; detail?: unknown },
  limits: CaptionLimits = {},
  role: { forChat?: boolean } = {},
): Result<CaptionPayload, Refusal> {
  const checked = parseCaptionOptions(options, limits);
  if (!checked.ok) return checked;
  return {
    ok: true,
    value: {
      imageBase64: Buffer.from(image.bytes.buffer, image.bytes.byteOffset, image.bytes.byteLength).toString('base64'),
      // The runner compares what the bytes are with what the host said they are (a lying type is refused).
      ...(image.declaredType ? { declaredType: image.declaredType } : {}),
      ...checked.value,
      ...(role.forChat ? { forChat: true as const } : {}),
    },
  };
}

/**
 * The question and detail of a caption job, for what adapters show; undefined for another kind or a
 * payload that is not one. The image is not looked at (it may be megabytes), and no question limit
 * applies: the stored job was checked when it was queued.
 */
export function captionOptionsOf(job: { kind: JobKind; payload: Json }): CaptionOptions | undefined {
  if (job.kind !== 'caption' || !isRecord(job.payload)) return undefined;
  const parsed = parseCaptionOptions(job.payload, { maxQuestionChars: Number.MAX_SAFE_INTEGER });
  return parsed.ok ? parsed.value : undefined;
}
