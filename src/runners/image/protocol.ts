/** Messages between the image runner and its ONNX Runtime worker thread. Float arrays are transferred, not copied. */
import type { ErrorInfo } from '../../engine/types.js';
import type { ModelFiles, PipelineIo } from './model-io.js';
import type { ImageProvider } from './settings.js';

/** [batch, channels, height, width] */
export type Shape4 = [number, number, number, number];

export interface LoadCall {
  type: 'load';
  files: ModelFiles;
  /** In order of preference; `cuda` already dropped by the caller when its libraries are missing. */
  providers: ImageProvider[];
  threads?: number;
}

/** SDXL's part of an encode: tokenizer_2's ids, the six time ids per row, and whether the first (unconditional) row is zeros. */
export interface XlEncode {
  ids2: Int32Array;
  /** [batch × 6]: original height, width, crop top, left, target height, width. */
  timeIds: Float32Array;
  zeroUncond: boolean;
}

export interface LoadResult {
  provider: ImageProvider;
  io: PipelineIo;
  /** Why a preferred provider was not used, for the log. */
  warnings: string[];
  /** Why the export's vae_encoder could not be used (image-to-image is then refused, text-to-image runs). */
  vaeEncoderProblem?: string;
}

export type WorkerCall =
  | LoadCall
  /** Runs the text encoder on `batch` rows of 77 ids and keeps the result under `key` for the UNet. */
  | { type: 'encode'; key: string; ids: Int32Array; batch: number; xl?: XlEncode }
  /**
   * One UNet evaluation of batch-1 latents, repeated to the batch of `key`'s embeddings; returns
   * [batch,4,h,w], or with `guidance` and a [uncond; cond] batch of 2, the guided [1,4,h,w].
   */
  | { type: 'unet'; key: string; sample: Float32Array; shape: Shape4; timestep: number; guidance?: number }
  /** VAE-decodes already scaled latents; returns the [1,3,8h,8w] output as interleaved RGB bytes. */
  | { type: 'decode'; latents: Float32Array; shape: Shape4 }
  /** VAE-encodes an image [1,3,H,W] in [-1, 1]; returns the encoder's raw output (latents or their distribution). */
  | { type: 'vaeEncode'; pixels: Float32Array; shape: Shape4 }
  | { type: 'release'; key: string }
  | { type: 'close' };

export interface DecodeResult {
  /** Interleaved RGB bytes (vaeOutputToRgb); empty when `shape` is not [1, 3, H, W]. */
  rgb: Uint8Array;
  /** The VAE output's dims. */
  shape: number[];
  /** The first value of the output that is not finite (an overflowed decode), if any. */
  nonFinite?: number;
}

export interface VaeEncodeResult {
  latents: Float32Array;
  shape: number[];
}

export interface WorkerResults {
  load: LoadResult;
  encode: null;
  unet: Float32Array;
  decode: DecodeResult;
  vaeEncode: VaeEncodeResult;
  release: null;
  close: null;
}

export interface CallMessage {
  id: number;
  call: WorkerCall;
}

export type ReplyMessage = { id: number; ok: true; value: WorkerResults[WorkerCall['type']] } | { id: number; ok: false; error: ErrorInfo };
