/**
 * The caption job payload in the worker: checked again by the caption job's contract (the command
 * checked it too, but the payload crossed a process boundary and SQLite), and the image it names
 * read within the worker's byte cap.
 */
import { readFile, stat } from 'node:fs/promises';
import { type FactsOf, HearthError, type Json } from '../../engine/types.js';
import { parseCaptionPayload as parseContract, type CaptionDetail } from '../../jobs/caption.js';

/** What a caption job carries. Exactly one image source. */
export type { CaptionPayload } from '../../jobs/caption.js';

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

function invalid(message: string, facts: FactsOf<'INVALID_INPUT'> = {}): HearthError {
  return new HearthError('INVALID_INPUT', message, facts);
}

/** Checks shape and limits. Throws HearthError INVALID_INPUT, PROMPT_TOO_LONG or IMAGE_TOO_LARGE. */
export function parseCaptionPayload(payload: Json, limits: PayloadLimits): ParsedCaptionPayload {
  const parsed = parseContract(payload, { maxQuestionChars: limits.maxQuestionChars });
  if (!parsed.ok) throw HearthError.from(parsed.error);
  const { imageBase64, imagePath, question, detail, declaredType } = parsed.value;

  let source: ParsedCaptionPayload['source'];
  if (imageBase64 !== undefined) {
    // Refuse before decoding: base64 carries 3 bytes per 4 characters.
    const approxBytes = Math.floor((imageBase64.length * 3) / 4);
    if (approxBytes > limits.maxImageBytes + 2) {
      throw new HearthError('IMAGE_TOO_LARGE', `image must be at most ${limits.maxImageBytes} bytes; got about ${approxBytes}`, {
        givenBytes: approxBytes,
        allowedBytes: limits.maxImageBytes,
      });
    }
    source = { kind: 'base64', data: imageBase64 };
  } else if (imagePath !== undefined) {
    source = { kind: 'path', path: imagePath };
  } else {
    // The contract allows exactly one source; this is only here for the type checker.
    throw invalid('give exactly one image source (imageBase64 or imagePath); got 0', { option: 'image', given: 0, allowed: 1 });
  }

  return {
    source,
    detail,
    ...(question !== undefined ? { question } : {}),
    ...(declaredType !== undefined ? { declaredType } : {}),
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
