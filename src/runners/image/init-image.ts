/**
 * Image-to-image's start, as diffusers' StableDiffusionImg2ImgPipeline (and the SDXL one) makes it:
 * the init image resized to the job's size and scaled to [-1, 1] (VaeImageProcessor.preprocess), its
 * latents from the export's vae_encoder times the VAE's scaling factor (`retrieve_latents`, sampling
 * the latent distribution with the job's seeded generator), and the timesteps it starts from
 * (`get_timesteps`).
 */
import sharp from 'sharp';
import { HearthError } from '../../engine/types.js';
import { denoisingSteps } from '../../jobs/image.js';
import { decodeImage } from '../../media/image-decode.js';
import type { Rng } from './rng.js';

/** What an init image may be, in bytes and pixels (files.maxBytes and files.maxPixels by default). */
export interface InitImageLimits {
  maxBytes: number;
  maxPixels: number;
}

/** Init images are held to these when the settings name none: files.maxBytes' and files.maxPixels' defaults. */
export const DEFAULT_INIT_IMAGE_LIMITS: Readonly<InitImageLimits> = { maxBytes: 10 * 1024 * 1024, maxPixels: 40_000_000 };

/**
 * The init image as the VAE encoder takes it: [3, height, width] planes in [-1, 1]. The bytes are
 * checked and decoded by src/media (type sniffed, size and pixel limits from the header first), then
 * resized to exactly width × height as diffusers' VaeImageProcessor does with its default resize mode
 * (a plain resize, Lanczos, aspect not kept: a command picks a size of the image's shape when it can).
 * Refuses with IMAGE_INVALID or IMAGE_TOO_LARGE naming what was given and what is allowed.
 */
export async function initImagePixels(base64: string, width: number, height: number, limits: Readonly<InitImageLimits>): Promise<Float32Array> {
  const bytes = Buffer.from(base64, 'base64');
  const decoded = await decodeImage(bytes, { maxBytes: limits.maxBytes, maxPixels: limits.maxPixels });
  if (!decoded.ok) throw HearthError.from(decoded.error);
  const { rgb: src, width: w, height: h } = decoded.value;
  const rgb =
    w === width && h === height ? src : await sharp(src, { raw: { width: w, height: h, channels: 3 } }).resize(width, height, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let p = 0, i = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++, i++) out[c * plane + p] = ((rgb[i] as number) / 255) * 2 - 1;
  }
  return out;
}

/**
 * Latents of the init image from the vae_encoder's output, times the scaling factor. An output of
 * 4 channels is the latents themselves (`latent_sample`: optimum ≤ 1.23 exports sample inside the
 * graph); 8 channels are the distribution's mean and log-variance (`latent_parameters`, optimum ≥ 1.24),
 * sampled as diffusers' DiagonalGaussianDistribution.sample does (log-variance clamped to [-30, 20])
 * with normals from the job's generator, so the same seed gives the same latents.
 */
export function initLatents(output: Float32Array, shape: readonly number[], scalingFactor: number, rng: Rng, file: string): { latents: Float32Array; channels: number } {
  const [batch, channels, h, w] = shape;
  const plane = (h ?? 0) * (w ?? 0);
  if (shape.length !== 4 || batch !== 1 || (channels !== 4 && channels !== 8) || output.length !== (channels ?? 0) * plane) {
    throw new HearthError('MODEL_INVALID', `${file} encoded the image to [${shape.join(', ')}]; expected [1, 4, h, w] latents or [1, 8, h, w] (mean and log-variance)`, {
      file,
      expected: '[1, 4, h, w] or [1, 8, h, w]',
      given: `[${shape.join(', ')}]`,
    });
  }
  const n = 4 * plane;
  const latents = new Float32Array(n);
  if (channels === 4) {
    for (let i = 0; i < n; i++) latents[i] = (output[i] as number) * scalingFactor;
    return { latents, channels };
  }
  const noise = rng.normals(n);
  for (let i = 0; i < n; i++) {
    const logvar = Math.min(Math.max(output[n + i] as number, -30), 20);
    latents[i] = ((output[i] as number) + Math.exp(0.5 * logvar) * (noise[i] as number)) * scalingFactor;
  }
  return { latents, channels };
}

/**
 * Where image-to-image starts in the sampler's timesteps: diffusers' get_timesteps, with
 * init_timestep = min(int(steps × strength), steps) and t_start = max(steps − init_timestep, 0),
 * times the scheduler's order (1 for every sampler here). At strength 0 it is `steps`: nothing is
 * denoised and the result is the init image through the VAE.
 */
export function img2imgStart(steps: number, strength: number, order = 1): number {
  return Math.max(steps - denoisingSteps({ steps, strength }), 0) * order;
}
