import type { Rng } from '../rng.js';
import type { SchedulerConfig } from './config.js';
import { EulerScheduler, eulerDenoised } from './euler.js';
import type { SchedulerName, SchedulerStep } from './types.js';

/**
 * diffusers' EulerAncestralDiscreteScheduler: an Euler step down to σ_down, then fresh noise of
 * σ_up, with σ_up = √(σ_to²(σ_from² − σ_to²)/σ_from²) and σ_down = √(σ_to² − σ_up²).
 */
export class EulerAncestralScheduler extends EulerScheduler {
  // Same schedule, sigmas and input scaling as Euler; only the step differs.
  override readonly name: SchedulerName = 'euler_a';

  /** EulerAncestralDiscreteScheduler reads no Karras σs, σ bounds nor final σ type: they are left out. */
  constructor(cfg: SchedulerConfig, steps: number) {
    super(cfg, steps, true);
  }

  /** σ_up and σ_down of step `index`. */
  ancestralSigmas(index: number): { up: number; down: number } {
    const from = this.sigmas[index] as number;
    const to = this.sigmas[index + 1] as number;
    const up = Math.sqrt((to * to * (from * from - to * to)) / (from * from));
    return { up, down: Math.sqrt(Math.max(0, to * to - up * up)) };
  }

  override step(modelOutput: Float32Array, index: number, sample: Float32Array, rng: Rng): SchedulerStep {
    const sigma = this.sigmas[index] as number;
    const { up, down } = this.ancestralSigmas(index);
    const dt = down - sigma;
    const denoised = eulerDenoised(modelOutput, sample, sigma, this.prediction);
    const prevSample = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i] as number;
      prevSample[i] = x + ((x - (denoised[i] as number)) / sigma) * dt + rng.normal() * up;
    }
    return { prevSample, denoised };
  }
}
