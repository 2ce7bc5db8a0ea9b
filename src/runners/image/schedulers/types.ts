import type { Rng } from '../rng.js';

/** The samplers a user can pick (`default` resolves to one of these from the model's config). */
export const SCHEDULER_NAMES = ['euler', 'euler_a', 'dpmpp_2m_karras', 'ddim', 'lcm'] as const;
export type SchedulerName = (typeof SCHEDULER_NAMES)[number];
export type SchedulerChoice = SchedulerName | 'default';

export interface SchedulerStep {
  /** The latents for the next step (x_{t-1}). */
  prevSample: Float32Array;
  /** The model's current estimate of the clean latents (x̂₀): what previews show. */
  denoised: Float32Array;
}

/**
 * One job's sampler: a fixed list of timesteps, one UNet evaluation per entry. Stateful (multistep
 * samplers keep earlier predictions), so each job gets its own instance; `step` must be called with
 * indices 0, 1, 2… in order.
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
}
