/**
 * What every caller of onnxruntime-node does with the VAE's output to have an image at all, so the
 * bare loops in bench/image*.ts deliver what hearth delivers (a PNG), not a float tensor: diffusers'
 * conversion of [1, 3, H, W] in [-1, 1] to bytes, written the plain way, then sharp's PNG with its
 * defaults (as hearth's rgbToPng does).
 */
import sharp from 'sharp';
import type ort from 'onnxruntime-node';

export async function barePng(decoded: ort.Tensor): Promise<Buffer> {
  const [, , height = 0, width = 0] = decoded.dims;
  const x = decoded.data as Float32Array;
  const plane = width * height;
  const rgb = new Uint8ClampedArray(plane * 3);
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < plane; p++) rgb[p * 3 + c] = (x[c * plane + p] as number) * 127.5 + 127.5;
  }
  return sharp(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** The same, as CommonJS source for a worker thread started with `eval` (`sharp` is the resolved path of the package). */
export const BARE_PNG_CJS = `
function barePng(decoded, sharp) {
  const [, , height, width] = decoded.dims;
  const x = decoded.data;
  const plane = width * height;
  const rgb = new Uint8ClampedArray(plane * 3);
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < plane; p++) rgb[p * 3 + c] = x[c * plane + p] * 127.5 + 127.5;
  }
  return sharp(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer();
}
`;
