/**
 * The caption job payload, checked again in the worker (the command checked it too, but the payload
 * crossed a process boundary and SQLite), and the image it names read within the byte cap.
 */
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { HearthError, type Json } from '../../engine/types.js';
import type { CaptionDetail } from './captioner.js';

/** What a caption job carries. Exactly one image source. */
export interface CaptionPayload {
  imageBase64?: string;
  /** An absolute path on the worker's machine (e.g. a download saved under dataDir). */
  imagePath?: string;
  /** Content type or file name the image came with; a mismatch with its bytes is refused. */
  declaredType?: string;
  question?: string;
  detail?: CaptionDetail;
}

export interface ParsedCaptionPayload {
  source: { kind: 'base64'; data: string } | { kind: 'path'; path: string };
  declaredType?: string;
  question?: string;
  detail: CaptionDetail;
}

export interface PayloadLimits {
  maxImageBytes: number;
  maxQuestionChars: number;
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function invalid(message: string, facts: Record<string, Json> = {}): HearthError {
  return new HearthError('INVALID_INPUT', message, facts);
}

/** Checks shape and limits. Throws HearthError INVALID_INPUT, PROMPT_TOO_LONG or IMAGE_TOO_LARGE. */
export function parseCaptionPayload(payload: Json, limits: PayloadLimits): ParsedCaptionPayload {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw invalid('caption payload must be an object with imageBase64 or imagePath');
  }
  const { imageBase64, imagePath, question, detail, declaredType } = payload;

  const sources = [imageBase64, imagePath].filter((s) => s !== undefined && s !== null).length;
  if (sources !== 1) {
    throw invalid(`give exactly one image source (imageBase64 or imagePath); got ${sources}`, { given: sources });
  }

  let source: ParsedCaptionPayload['source'];
  if (imageBase64 !== undefined && imageBase64 !== null) {
    if (typeof imageBase64 !== 'string') throw invalid('imageBase64 must be a string');
    const data = imageBase64.replace(/\s+/g, '');
    if (!BASE64.test(data)) throw invalid('imageBase64 is not base64');
    // Refuse before decoding: base64 carries 3 bytes per 4 characters.
    const approxBytes = Math.floor((data.length * 3) / 4);
    if (approxBytes > limits.maxImageBytes + 2) {
      throw new HearthError('IMAGE_TOO_LARGE', `image must be at most ${limits.maxImageBytes} bytes; got about ${approxBytes}`, {
        givenBytes: approxBytes,
        allowedBytes: limits.maxImageBytes,
      });
    }
    source = { kind: 'base64', data };
  } else {
    if (typeof imagePath !== 'string' || imagePath === '') throw invalid('imagePath must be a non-empty string');
    if (!isAbsolute(imagePath)) throw invalid(`imagePath must be absolute; got ${imagePath}`, { imagePath });
    source = { kind: 'path', path: imagePath };
  }

  let q: string | undefined;
  if (question !== undefined && question !== null) {
    if (typeof question !== 'string') throw invalid('question must be a string');
    q = question.trim();
    if (q === '') q = undefined;
    else if (q.length > limits.maxQuestionChars) {
      throw new HearthError('PROMPT_TOO_LONG', `question must be at most ${limits.maxQuestionChars} characters; got ${q.length}`, {
        givenChars: q.length,
        allowedChars: limits.maxQuestionChars,
      });
    }
  }

  let d: CaptionDetail = 'short';
  if (detail !== undefined && detail !== null) {
    if (detail !== 'short' && detail !== 'detailed') {
      throw invalid(`detail must be "short" or "detailed"; got ${JSON.stringify(detail)}`, { given: detail });
    }
    d = detail;
  }

  if (declaredType !== undefined && declaredType !== null && typeof declaredType !== 'string') {
    throw invalid('declaredType must be a string');
  }

  return {
    source,
    detail: d,
    ...(q !== undefined ? { question: q } : {}),
    ...(typeof declaredType === 'string' ? { declaredType } : {}),
  };
}

/** The image bytes of a parsed payload; a file is measured before it is read. */
export async function readPayloadImage(source: ParsedCaptionPayload['source'], maxImageBytes: number): Promise<Uint8Array> {
  if (source.kind === 'base64') return Buffer.from(source.data, 'base64');
  let size: number;
  try {
    const st = await stat(source.path);
    if (!st.isFile()) throw invalid(`imagePath is not a file: ${source.path}`, { imagePath: source.path });
    size = st.size;
  } catch (e) {
    if (e instanceof HearthError) throw e;
    throw invalid(`image file not found: ${source.path}`, { imagePath: source.path });
  }
  if (size > maxImageBytes) {
    throw new HearthError('IMAGE_TOO_LARGE', `image must be at most ${maxImageBytes} bytes; got ${size}`, {
      givenBytes: size,
      allowedBytes: maxImageBytes,
    });
  }
  return readFile(source.path);
}
