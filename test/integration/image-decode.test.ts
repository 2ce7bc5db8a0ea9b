import { describe, expect, it } from 'vitest';
import { decodeImage, type DecodedImage } from '../../src/media/image-decode.js';
import assert from 'node:assert/strict';
import type { ErrorInfo, Result } from '../../src/engine/types.js';
import {
  animatedImage,
  bombPng,
  COLORS,
  jpegImage,
  pngImage,
  rotatedJpeg,
  textFile,
  truncatedPng,
} from '../fixtures/caption/images.js';

const LIMITS = { maxPixels: 4_000_000, maxBytes: 5_000_000 };

function expectError(r: Result<DecodedImage>): ErrorInfo {
  if (r.ok) throw new Error(`expected an error, got a ${r.value.width}x${r.value.height} image`);
  return r.error;
}

function expectImage(r: Result<DecodedImage>): DecodedImage {
  if (!r.ok) throw new Error(`expected an image, got ${r.error.code}: ${r.error.message}`);
  return r.value;
}

function pixel(img: DecodedImage, x: number, y: number): [number, number, number] {
  const i = (y * img.width + x) * 3;
  return [img.rgb[i] ?? -1, img.rgb[i + 1] ?? -1, img.rgb[i + 2] ?? -1];
}

describe('decodeImage', () => {
  it('decodes a PNG to RGB with its size and format', async () => {
    const img = expectImage(await decodeImage(await pngImage(48, 40), LIMITS));
    expect(img).toMatchObject({ width: 48, height: 40, format: 'png', frames: 1, orientation: 1 });
    expect(img.rgb.length).toBe(48 * 40 * 3);
    expect(pixel(img, 0, 0)).toEqual([255, 0, 0]);
    expect(pixel(img, 47, 0)).toEqual([0, 0, 255]);
  });

  it('decodes a JPEG, and accepts a matching declared type', async () => {
    const img = expectImage(await decodeImage(await jpegImage(), { ...LIMITS, declaredType: 'image/jpeg' }));
    expect(img).toMatchObject({ width: 48, height: 40, format: 'jpeg' });
    const [r, g, b] = pixel(img, 2, 2);
    expect(r).toBeGreaterThan(200);
    expect(g).toBeLessThan(60);
    expect(b).toBeLessThan(60);
  });

  it('refuses bytes that are not an image, naming what they look like', async () => {
    const e = expectError(await decodeImage(textFile(), LIMITS));
    expect(e.code).toBe('IMAGE_INVALID');
    expect(e.facts).toMatchObject({ detectedType: 'text' });
    expect(e.message).toMatch(/expected PNG, JPEG, GIF or WebP/);
  });

  it('refuses an empty file', async () => {
    expect(expectError(await decodeImage(new Uint8Array(0), LIMITS)).code).toBe('IMAGE_INVALID');
  });

  it('refuses SVG even though sharp could render it', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
    const e = expectError(await decodeImage(svg, LIMITS));
    expect(e.code).toBe('IMAGE_INVALID');
    expect(e.facts).toMatchObject({ detectedType: 'svg' });
  });

  it('refuses a file that lies about its type: .png name with JPEG bytes', async () => {
    const e = expectError(await decodeImage(await jpegImage(), { ...LIMITS, declaredType: 'holiday.png' }));
    expect(e.code).toBe('IMAGE_INVALID');
    expect(e.facts).toEqual({ detectedType: 'jpeg', declaredType: 'holiday.png' });
    expect(e.message).toBe('file claims to be png but its bytes are jpeg');
  });

  it('refuses text served as image/png', async () => {
    const e = expectError(await decodeImage(textFile(), { ...LIMITS, declaredType: 'image/png' }));
    expect(e.code).toBe('IMAGE_INVALID');
    expect(e.facts).toMatchObject({ detectedType: 'text', declaredType: 'image/png' });
  });

  it('refuses an image declared as something else (text/html)', async () => {
    const e = expectError(await decodeImage(await pngImage(), { ...LIMITS, declaredType: 'text/html; charset=utf-8' }));
    expect(e.code).toBe('IMAGE_INVALID');
    expect(e.message).toMatch(/claims to be text\/html but its bytes are png/);
  });

  it('ignores a declared type that claims nothing (octet-stream)', async () => {
    const img = expectImage(await decodeImage(await pngImage(), { ...LIMITS, declaredType: 'application/octet-stream' }));
    expect(img.format).toBe('png');
  });

  it('refuses a corrupt (truncated) PNG whose header is fine', async () => {
    const e = expectError(await decodeImage(await truncatedPng(), LIMITS));
    assert(e.code === 'IMAGE_INVALID');
    expect(e.facts).toMatchObject({ detectedType: 'png' });
    expect(typeof e.facts?.reason).toBe('string');
  });

  it('refuses a corrupt JPEG (garbage after the magic bytes)', async () => {
    const bytes = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(200, 0x41)]);
    const e = expectError(await decodeImage(bytes, LIMITS));
    expect(e.code).toBe('IMAGE_INVALID');
  });

  it('refuses too many bytes before looking inside', async () => {
    const png = await pngImage();
    const e = expectError(await decodeImage(png, { ...LIMITS, maxBytes: png.length - 1 }));
    expect(e.code).toBe('IMAGE_TOO_LARGE');
    expect(e.facts).toEqual({ givenBytes: png.length, allowedBytes: png.length - 1 });
  });

  it('refuses too many pixels from the header, with the given and allowed counts', async () => {
    const e = expectError(await decodeImage(await pngImage(48, 40), { ...LIMITS, maxPixels: 48 * 40 - 1 }));
    expect(e.code).toBe('IMAGE_TOO_LARGE');
    expect(e.facts).toEqual({ width: 48, height: 40, givenPixels: 1920, allowedPixels: 1919 });
  });

  it('refuses a decompression bomb (20000x20000 in ~50 KB) from its header', async () => {
    const bomb = bombPng(20000);
    expect(bomb.length).toBeLessThan(100_000);
    const before = process.memoryUsage().rss;
    const e = expectError(await decodeImage(bomb, LIMITS));
    expect(e.code).toBe('IMAGE_TOO_LARGE');
    expect(e.facts).toMatchObject({ width: 20000, height: 20000, givenPixels: 400_000_000, allowedPixels: LIMITS.maxPixels });
    // Decoding it would have taken 400 MB+ (1-bit → 8-bit grey) at the least.
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
  });

  it('applies EXIF orientation: a 40x20 JPEG tagged "rotate 90°" comes out 20x40', async () => {
    const img = expectImage(await decodeImage(await rotatedJpeg(40, 20), LIMITS));
    expect(img).toMatchObject({ width: 20, height: 40, sourceWidth: 40, sourceHeight: 20, orientation: 6 });
    // The stored left half (red) is the top after a clockwise turn.
    expect(pixel(img, 10, 2)[0]).toBeGreaterThan(200);
    expect(pixel(img, 10, 37)[2]).toBeGreaterThan(200);
  });

  it('takes the first frame of an animated GIF', async () => {
    const gif = await animatedImage('gif', [COLORS.RED, COLORS.BLUE, COLORS.GREEN]);
    const img = expectImage(await decodeImage(gif, LIMITS));
    expect(img).toMatchObject({ width: 8, height: 6, format: 'gif', frames: 3 });
    expect(img.rgb.length).toBe(8 * 6 * 3);
    expect(pixel(img, 4, 3)).toEqual([255, 0, 0]);
  });

  it('takes the first frame of an animated WebP', async () => {
    const webp = await animatedImage('webp', [COLORS.BLUE, COLORS.RED]);
    const img = expectImage(await decodeImage(webp, LIMITS));
    expect(img).toMatchObject({ width: 8, height: 6, format: 'webp', frames: 2 });
    expect(pixel(img, 4, 3)).toEqual([0, 0, 255]);
  });

  it('scales a large image down to maxSide, keeping the aspect ratio', async () => {
    const img = expectImage(await decodeImage(await pngImage(400, 200), { ...LIMITS, maxSide: 100 }));
    expect(img).toMatchObject({ width: 100, height: 50, sourceWidth: 400, sourceHeight: 200 });
  });

  it('throws when aborted', async () => {
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await expect(decodeImage(await pngImage(), { ...LIMITS, signal: ac.signal })).rejects.toThrow('stop');
  });
});
