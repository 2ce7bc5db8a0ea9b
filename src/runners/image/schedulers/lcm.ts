import { HearthError } from '../../../engine/types.js';
import type { Rng } from '../rng.js';
import type { NoiseSchedule, PredictionType, SchedulerConfig } from './config.js';
import { noiseSchedule } from './config.js';
import { vpAddNoise } from './ddim.js';
import { checkSteps } from './euler.js';
import type { Scheduler, SchedulerName, SchedulerOptions, SchedulerStep } from './types.js';
import { limitX0, vpPrediction, x0Limit, type X0Limit } from './vp.js';

/** LCMScheduler's own training defaults (they differ from the other schedulers'). */
const LCM_BETA_DEFAULTS = { numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear' } as const;

/**
 * diffusers' LCMScheduler.set_timesteps (strength 1): the distillation schedule k·i − 1 for
 * i = 1…original_inference_steps (k = T / original steps), reversed, sampled at floor(linspace(0, len, N, endpoint=False)).
 * Ignores `timestep_spacing`, as diffusers does.
 */
export function lcmTimesteps(trainTimesteps: number, originalSteps: number, steps: number): number[] {
  const k = Math.floor(trainTimesteps / originalSteps);
  const origin = Array.from({ length: originalSteps }, (_, i) => (i + 1) * k - 1).reverse();
  // i · (len / N) as numpy's linspace computes it, so the floor lands where diffusers' does.
  const stride = origin.length / steps;
  return Array.from({ length: steps }, (_, i) => origin[Math.floor(i * stride)] as number);
}

/**
 * diffusers' LCMScheduler: x̂₀ from the model output, the consistency boundary condition
 * denoised = c_out·x̂₀ + c_skip·x (σ_data = 0.5, timestep_scaling 10), then, except at the last
 * step, re-noised to the next timestep with fresh Gaussian noise.
 */
export class LcmScheduler implements Scheduler {
  readonly name: SchedulerName = 'lcm';
  readonly timesteps: readonly number[];
  readonly initNoiseSigma = 1;
  private readonly schedule: NoiseSchedule;
  private readonly finalAlphaCumprod: number;
  private readonly prediction: PredictionType;
  private readonly timestepScaling: number;
  private readonly limit: X0Limit;

  constructor(cfg: SchedulerConfig, steps: number, opts: SchedulerOptions = {}) {
    this.schedule = noiseSchedule(cfg, LCM_BETA_DEFAULTS);
    const t = this.schedule.numTrainTimesteps;
    checkSteps(steps, t);
    const original = Math.min(cfg.originalInferenceSteps ?? 50, t);
    if (steps > original) {
      throw new HearthError(
        'INVALID_INPUT',
        `steps must be at most ${original} with the lcm scheduler (the model's original_inference_steps); got ${steps}`,
        { field: 'steps', given: steps, min: 1, max: original, scheduler: 'lcm' },
      );
    }
    this.timesteps = lcmTimesteps(t, original, steps);
    this.finalAlphaCumprod = cfg.setAlphaToOne ?? true ? 1 : (this.schedule.alphasCumprod[0] as number);
    this.prediction = cfg.predictionType ?? 'epsilon';
    this.timestepScaling = cfg.timestepScaling ?? 10;
    this.limit = x0Limit(cfg, false, opts.batch ?? 1);
  }

  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    return vpAddNoise(this.schedule, original, noise, this.timesteps[index] as number);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  /** c_skip and c_out of the boundary condition at timestep `t`. */
  boundaryScalings(t: number): { cSkip: number; cOut: number } {
    const sigmaData = 0.5;
    const scaled = t * this.timestepScaling;
    return {
      cSkip: (sigmaData * sigmaData) / (scaled * scaled + sigmaData * sigmaData),
      cOut: scaled / Math.sqrt(scaled * scaled + sigmaData * sigmaData),
    };
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, rng: Rng): SchedulerStep {
    const t = this.timesteps[index] as number;
    const last = index === this.timesteps.length - 1;
    const prev = last ? t : (this.timesteps[index + 1] as number);
    const a = this.schedule.alphasCumprod[t] as number;
    const aPrev = prev >= 0 ? (this.schedule.alphasCumprod[prev] as number) : this.finalAlphaCumprod;
    const sa = Math.sqrt(a);
    const sb = Math.sqrt(1 - a);
    const { cSkip, cOut } = this.boundaryScalings(t);
    const x0 = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) x0[i] = vpPrediction(this.prediction, sample[i] as number, modelOutput[i] as number, sa, sb).x0;
    limitX0(x0, this.limit);
    const denoised = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) denoised[i] = cOut * (x0[i] as number) + cSkip * (sample[i] as number);
    if (last) return { prevSample: denoised, denoised };
    const saPrev = Math.sqrt(aPrev);
    const sbPrev = Math.sqrt(1 - aPrev);
    const prevSample = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) prevSample[i] = saPrev * (denoised[i] as number) + sbPrev * rng.normal();
    return { prevSample, denoised };
  }
}
