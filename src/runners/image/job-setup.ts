/**
 * What the image runner checks and builds for a job: SDXL's second encoding, a static-shape export's
 * size and batch, image-to-image's encoder, and a decoded image that overflowed.
 */
import { join } from 'node:path';
import { HearthError } from '../../engine/types.js';
import { CLIP_LENGTH, type ClipTokenizer } from './clip-tokenizer.js';
import type { ModelFolder } from './model-folder.js';
import type { PipelineIo } from './model-io.js';
import type { XlEncode } from './protocol.js';
import type { ImageRequest } from './request.js';

/**
 * SDXL's second encoding: tokenizer_2's ids ([uncond; cond] when guided) and add_time_ids per row:
 * original size (height, width), crop top-left (0, 0) and target size (height, width), as
 * StableDiffusionXLPipeline._get_add_time_ids builds them when no sizes are passed.
 */
export function xlEncode(tokenizer2: ClipTokenizer, request: ImageRequest, guided: boolean, zerosForEmpty: boolean): XlEncode {
  const cond = tokenizer2.encode(request.prompt).ids;
  let ids2 = cond;
  if (guided) {
    ids2 = new Int32Array(2 * CLIP_LENGTH);
    ids2.set(tokenizer2.encode(request.negativePrompt).ids, 0);
    ids2.set(cond, CLIP_LENGTH);
  }
  const row = [request.height, request.width, 0, 0, request.height, request.width];
  const timeIds = Float32Array.from(guided ? [...row, ...row] : row);
  return { ids2, timeIds, zeroUncond: guided && zerosForEmpty && request.negativePrompt === '' };
}

/** Static-shape exports accept one latent size (and batch); say so in the user's terms rather than as an ONNX Runtime error. */
export function checkStaticShape(loaded: { io: PipelineIo; folder: ModelFolder }, request: ImageRequest, guided: boolean): void {
  const { fixed } = loaded.io.unet;
  const file = loaded.folder.unet;
  for (const [side, latent] of [['height', fixed.height], ['width', fixed.width]] as const) {
    if (latent !== undefined && request[side] !== latent * 8) {
      throw new HearthError('INVALID_INPUT', `${side} must be ${latent * 8} for this model (its UNet was exported for that size only); got ${request[side]}`, {
        field: side,
        given: request[side],
        allowed: latent * 8,
        file,
      });
    }
  }
  const batch = guided ? 2 : 1;
  if (fixed.batch !== undefined && fixed.batch !== batch) {
    const needs = fixed.batch === 2 ? 'above 1 (the UNet was exported for guided batches of 2)' : 'at most 1 (the UNet was exported for unguided batches of 1)';
    throw new HearthError('INVALID_INPUT', `guidance must be ${needs} for this model; got ${request.guidance}`, {
      field: 'guidance',
      given: request.guidance,
      allowed: needs,
      file,
    });
  }
}

/** Image-to-image needs the export's VAE encoder; without one such a job is refused, naming why (text-to-image runs on). */
export function requireVaeEncoder(loaded: { io: PipelineIo; folder: ModelFolder; vaeEncoderProblem?: string }): void {
  if (loaded.io.vaeEncoder) return;
  const file = join(loaded.folder.dir, 'vae_encoder', 'model.onnx');
  const why = loaded.vaeEncoderProblem ?? `its export has no ${file} (export it with optimum, which writes vae_encoder/ beside vae_decoder/)`;
  throw new HearthError('INVALID_INPUT', `this image model cannot start from an image: ${why}; text-to-image still works`, {
    option: 'initImageBase64',
    file,
    allowed: 'text-to-image only (no initImageBase64)',
  });
}

/**
 * A decode that overflowed (NaN or infinity): what an fp16 VAE whose config says force_upcast does
 * (SDXL's). Failed naming that, rather than sent as a black picture.
 */
export function checkFinite(image: Float32Array, folder: ModelFolder): void {
  for (let i = 0; i < image.length; i++) {
    if (!Number.isFinite(image[i] as number)) throw nonFiniteError(image[i] as number, folder);
  }
}

/** The error for a decode that gave `value` (not finite); the worker thread finds it while converting to RGB. */
export function nonFiniteError(value: number, folder: ModelFolder): HearthError {
  const hint = folder.forceUpcast
    ? 'its config says force_upcast: this VAE must run in float32; use an export with a float32 VAE (or an fp16-fixed one)'
    : 'the VAE overflowed';
  return new HearthError('MODEL_INVALID', `${folder.vaeDecoder} decoded to values that are not numbers: ${hint}`, {
    file: folder.vaeDecoder,
    expected: 'finite pixel values',
    given: String(value),
  });
}
