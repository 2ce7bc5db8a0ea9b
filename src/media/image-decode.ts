/**
 * Turns untrusted image bytes into plain RGB pixels, or a typed error that says what was wrong.
 *
 * Order matters for safety: the byte size is checked first, then the magic bytes (only PNG, JPEG,
 * GIF and WebP are handed to a decoder — never SVG, PDF or anything sharp would guess at), then the
 * dimensions from the header, and only then are pixels decoded (with sharp's own pixel limit as a
 * second guard). A decompression bomb — a few kilobytes declaring 20000×20000 — is refused from its
 * header without a pixel being allocated.
 */
import sharp, { type Metadata } from 'sharp';
import { err, type ErrorInfo, type FactsOf, ok, type Result } from '../engine/types.js';
import { declaredFormat, isSupportedFormat, sniffImageType, type ImageFormat } from './image-type.js';

export interface DecodeImageOptions {
  /** Largest width × height accepted (checked from the header before decoding). */
  maxPixels: number;
  /** Largest encoded size accepted, in bytes. */
  maxBytes: number;
  /**
   * What the sender says the file is: a content type (`image/png`), a file name (`cat.png`) or an
   * extension (`.png`). When it names a different type than the bytes hold, the image is refused.
   */
  declaredType?: string;
  /**
   * Longest side of the returned pixels; larger images are scaled down (aspect kept) while decoding,
   * so a 40-megapixel photo does not become 120 MB of RGB for a model that looks at 512 pixels.
   */
  maxSide?: number;
  signal?: AbortSignal;
}

export interface DecodedImage {
  /** Interleaved 8-bit RGB, row-major, `width * height * 3` bytes. */
  rgb: Buffer;
  width: number;
  height: number;
  /** The format found in the bytes. */
  format: ImageFormat;
  /** Width and height as stored, before orientation and scaling. */
  sourceWidth: number;
  sourceHeight: number;
  /** EXIF orientation that was applied (1 = none). */
  orientation: number;
  /** Frames in the file; only the first is decoded. */
  frames: number;
}

const invalid = (message: string, facts: FactsOf<'IMAGE_INVALID'>): Result<never> =>
  err<ErrorInfo>({ code: 'IMAGE_INVALID', message, facts });

const tooLarge = (message: string, facts: FactsOf<'IMAGE_TOO_LARGE'>): Result<never> =>
  err<ErrorInfo>({ code: 'IMAGE_TOO_LARGE', message, facts });

function sharpMessage(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  // libvips appends repeated warning lines; the first line says what happened.
  return text.split('\n')[0] ?? text;
}

/**
 * Decodes an image. Expected failures come back as `IMAGE_INVALID` (not an image, unsupported or
 * lying type, corrupt) or `IMAGE_TOO_LARGE` (bytes or pixels over the limit), with the facts.
 * Throws only when `signal` is aborted.
 */
export async function decodeImage(bytes: Uint8Array, opts: DecodeImageOptions): Promise<Result<DecodedImage>> {
  opts.signal?.throwIfAborted();
  const { maxPixels, maxBytes } = opts;

  if (bytes.byteLength > maxBytes) {
    return tooLarge(`image must be at most ${maxBytes} bytes; got ${bytes.byteLength}`, {
      givenBytes: bytes.byteLength,
      allowedBytes: maxBytes,
    });
  }
  if (bytes.byteLength === 0) return invalid('image is empty (0 bytes)', { givenBytes: 0 });

  const sniffed = sniffImageType(bytes);
  const claimed = declaredFormat(opts.declaredType);
  const declaredFacts: FactsOf<'IMAGE_INVALID'> = opts.declaredType === undefined ? {} : { declaredType: opts.declaredType };

  if (!isSupportedFormat(sniffed)) {
    const what = sniffed === 'unknown' ? 'not a recognised image' : `${sniffed}, not a supported image`;
    return invalid(`file is ${what}; expected PNG, JPEG, GIF or WebP`, {
      detectedType: sniffed,
      allowedTypes: ['png', 'jpeg', 'gif', 'webp'],
      ...declaredFacts,
    });
  }
  if (claimed !== null && (typeof claimed === 'object' || claimed !== sniffed)) {
    const said = typeof claimed === 'object' ? claimed.other : claimed;
    return invalid(`file claims to be ${said} but its bytes are ${sniffed}`, {
      detectedType: sniffed,
      ...declaredFacts,
    });
  }

  // Header only: no pixels are decoded here, so no limit is needed to read the dimensions of a bomb.
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false, failOn: 'error' }).metadata();
  } catch (e) {
    return invalid(`${sniffed} image is corrupt: ${sharpMessage(e)}`, { detectedType: sniffed, reason: sharpMessage(e) });
  }
  opts.signal?.throwIfAborted();
  const frames = meta.pages ?? 1;
  const sourceWidth = meta.width;
  // For animations, sharp reports one frame's height unless every page is loaded.
  const sourceHeight = meta.pageHeight ?? meta.height;
  if (!(sourceWidth > 0 && sourceHeight > 0)) {
    return invalid(`${sniffed} image has no usable dimensions`, { detectedType: sniffed, width: sourceWidth, height: sourceHeight });
  }
  const pixels = sourceWidth * sourceHeight;
  if (pixels > maxPixels) {
    return tooLarge(`image must have at most ${maxPixels} pixels; got ${sourceWidth}x${sourceHeight} = ${pixels}`, {
      width: sourceWidth,
      height: sourceHeight,
      givenPixels: pixels,
      allowedPixels: maxPixels,
    });
  }

  try {
    // `pages: 1` decodes the first frame only; `rotate()` applies and drops EXIF orientation;
    // `flatten` puts transparent pixels on white, which captioners read better than black.
    let pipeline = sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error', pages: 1, page: 0 })
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb');
    if (opts.maxSide !== undefined) {
      pipeline = pipeline.resize({ width: opts.maxSide, height: opts.maxSide, fit: 'inside', withoutEnlargement: true });
    }
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    opts.signal?.throwIfAborted();
    if (info.channels !== 3) {
      return invalid(`decoded image has ${info.channels} channels; expected 3`, { detectedType: sniffed, channels: info.channels });
    }
    return ok({
      rgb: data,
      width: info.width,
      height: info.height,
      format: sniffed,
      sourceWidth,
      sourceHeight,
      orientation: meta.orientation ?? 1,
      frames,
    });
  } catch (e) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    const reason = sharpMessage(e);
    if (/pixel limit/i.test(reason)) {
      return tooLarge(`image must have at most ${maxPixels} pixels`, { allowedPixels: maxPixels, reason });
    }
    return invalid(`${sniffed} image is corrupt: ${reason}`, { detectedType: sniffed, reason });
  }
}
