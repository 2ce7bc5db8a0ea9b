/** Float images to PNG bytes with sharp. */
import sharp from 'sharp';

/** Kept here for callers that make PNGs; the conversion itself lives where the worker thread can use it without sharp. */
export { vaeOutputToRgb } from './vae-rgb.js';

/** RGB bytes to PNG. sharp's PNG encoder is deterministic, so equal pixels give equal bytes. */
export async function rgbToPng(rgb: Uint8Array, width: number, height: number, scale = 1): Promise<Uint8Array> {
  let img = sharp(rgb, { raw: { width, height, channels: 3 } });
  if (scale !== 1) img = img.resize(Math.round(width * scale), Math.round(height * scale), { kernel: 'nearest' });
  const buf = await img.png().toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
