/**
 * The VAE's output to RGB bytes, with no sharp import: the ONNX Runtime worker thread converts the
 * decoded tensor itself, so the main thread receives 3 bytes a pixel instead of a float copy of 12
 * (48 MB at SDXL's 1024², fp16 converted first), and one pass both converts and finds an overflow.
 */
import { halfTable } from './fp16.js';

/**
 * The VAE's [1, 3, H, W] output in [-1, 1] as interleaved RGB bytes, the way diffusers' image
 * processor does it: ((x / 2 + 0.5) clamped to [0, 1] × 255).round(). A Uint8ClampedArray store
 * clamps and rounds half to even, exactly as numpy's round does, and is much faster than doing both by hand.
 */
export function vaeOutputToRgb(image: Float32Array, width: number, height: number): Uint8Array {
  return vaeOutputToRgbChecked(image, width, height).rgb;
}

/**
 * {@link vaeOutputToRgb} for float32 or fp16 (bit patterns) output, also reporting the first value
 * that is not finite (a Uint8ClampedArray store would silently turn NaN into black).
 */
export function vaeOutputToRgbChecked(image: Float32Array | Uint16Array, width: number, height: number): { rgb: Uint8Array; nonFinite?: number } {
  const plane = width * height;
  const rgb = new Uint8ClampedArray(plane * 3);
  // v * 0 is 0 for every finite v and NaN for NaN and ±Infinity: one add per value finds an overflow.
  let poison = 0;
  if (image instanceof Uint16Array) {
    const half = halfTable();
    for (let c = 0; c < 3; c++) {
      const offset = c * plane;
      for (let p = 0, o = c; p < plane; p++, o += 3) {
        const v = half[image[offset + p] as number] as number;
        poison += v * 0;
        rgb[o] = v * 127.5 + 127.5;
      }
    }
  } else {
    for (let c = 0; c < 3; c++) {
      const offset = c * plane;
      for (let p = 0, o = c; p < plane; p++, o += 3) {
        const v = image[offset + p] as number;
        poison += v * 0;
        rgb[o] = v * 127.5 + 127.5;
      }
    }
  }
  const bytes = new Uint8Array(rgb.buffer);
  if (poison === 0) return { rgb: bytes };
  const n = Math.min(image.length, 3 * plane);
  const half = image instanceof Uint16Array ? halfTable() : undefined;
  for (let i = 0; i < n; i++) {
    const v = half ? (half[image[i] as number] as number) : (image[i] as number);
    if (!Number.isFinite(v)) return { rgb: bytes, nonFinite: v };
  }
  return { rgb: bytes };
}
