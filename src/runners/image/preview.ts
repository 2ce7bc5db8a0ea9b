/**
 * Cheap previews of a running image: a linear map of the 4 latent channels to RGB (no VAE run),
 * with the SD 1.5 factors used by ComfyUI's and A1111's "latent to RGB" previews, applied to the
 * current estimate of the clean latents.
 */
import { rgbToPng } from './png.js';

/** Rows: latent channels 0–3; columns: R, G, B contributions. */
export const SD15_LATENT_RGB: readonly (readonly [number, number, number])[] = [
  [0.3512, 0.2297, 0.3227],
  [0.325, 0.4974, 0.235],
  [-0.2829, 0.1762, 0.2721],
  [-0.212, -0.2616, -0.7177],
];

/** [1, 4, h, w] latents (diffusion scale, not divided by the VAE factor) to interleaved RGB bytes. */
export function latentsToRgb(latents: Float32Array, h: number, w: number): Uint8Array {
  const plane = h * w;
  const rgb = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      let v = 0;
      for (let k = 0; k < 4; k++) v += (latents[k * plane + p] as number) * ((SD15_LATENT_RGB[k] as readonly number[])[c] as number);
      rgb[p * 3 + c] = Math.round(Math.min(1, Math.max(0, (v + 1) / 2)) * 255);
    }
  }
  return rgb;
}

/** A preview PNG at a quarter of the image's size (twice the latent size). */
export function latentPreviewPng(latents: Float32Array, h: number, w: number): Promise<Uint8Array> {
  return rgbToPng(latentsToRgb(latents, h, w), w, h, 2);
}
