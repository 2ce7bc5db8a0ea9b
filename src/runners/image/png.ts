/** Float images to PNG bytes with sharp. */
import sharp from 'sharp';

/**
 * The VAE's [1, 3, H, W] output in [-1, 1] as interleaved RGB bytes, the way diffusers' image
 * processor does it: ((x / 2 + 0.5) clamped to [0, 1] × 255).round(). A Uint8ClampedArray store
 * clamps and rounds half to even, exactly as numpy's round does, and is much faster than doing both by hand.
 */
export function vaeOutputToRgb(image: Float32Array, width: number, height: number): Uint8Array {
  const plane = width * height;
  const rgb = new Uint8ClampedArray(plane * 3);
  for (let c = 0; c < 3; c++) {
    const offset = c * plane;
    for (let p = 0, o = c; p < plane; p++, o += 3) rgb[o] = (image[offset + p] as number) * 127.5 + 127.5;
  }
  return new Uint8Array(rgb.buffer);
}

/** RGB bytes to PNG. sharp's PNG encoder is deterministic, so equal pixels give equal bytes. */
export async function rgbToPng(rgb: Uint8Array, width: number, height: number, scale = 1): Promise<Uint8Array> {
  let img = sharp(rgb, { raw: { width, height, channels: 3 } });
  if (scale !== 1) img = img.resize(Math.round(width * scale), Math.round(height * scale), { kernel: 'nearest' });
  const buf = await img.png().toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
