import { SAMPLER_NAMES, type SamplerChoice, type SamplerName } from '../../../jobs/image.js';
import type { Rng } from '../rng.js';

/** The samplers a user can pick (`default` resolves to one of these from the model's config): the job contract's list. */
export const SCHEDULER_NAMES = SAMPLER_NAMES;
export type SchedulerName = SamplerName;
export type SchedulerChoice = SamplerChoice;

export interface SchedulerStep {
  /** The latents for the next step (x_{t-1}). */
  prevSample: Float32Array;
  /** The model's current estimate of the clean latents (x̂₀): what previews show. */
  denoised: Float32Array;
}

/** How a sampler is built besides its config and step count. */
export interface SchedulerOptions {
  /** Images in one sample (dynamic thresholding works per image). Default 1. */
  batch?: number;
}

/**
 * One job's sampler: a fixed list of timesteps, one UNet evaluation per entry. Stateful (multistep
 * samplers keep earlier predictions), so each job gets its own instance; `step` must be called with
 * consecutive indices (0, 1, 2…, or from a later index for image-to-image).
 */
export interface Scheduler {
  readonly name: SchedulerName;
  /** Timesteps fed to the UNet, one per step (fractional for Euler's `linspace` spacing). */
  readonly timesteps: readonly number[];
  /** Scale of the initial Gaussian latents. */
  readonly initNoiseSigma: number;
  /** The UNet's input at step `index` (identity for schedulers that work on unscaled samples). */
  scaleModelInput(sample: Float32Array, index: number): Float32Array;
  /** Advances from step `index` given the (guided) model output. */
  step(modelOutput: Float32Array, index: number, sample: Float32Array, rng: Rng): SchedulerStep;
  /** Clean latents noised to the level of step `index` (diffusers' add_noise): where image-to-image starts. */
  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array;
}
