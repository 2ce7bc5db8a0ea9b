import type { Rng } from '../rng.js';
import type { NoiseSchedule, PredictionType, SchedulerConfig } from './config.js';
import { arangeDown, DIFFUSERS_BETA_DEFAULTS, linspace, noiseSchedule, roundHalfEven } from './config.js';
import { checkSteps } from './euler.js';
import type { Scheduler, SchedulerName, SchedulerOptions, SchedulerStep } from './types.js';
import { limitX0, vpPrediction, x0Limit, type X0Limit } from './vp.js';

/** Integer timesteps of diffusers' DDIMScheduler.set_timesteps (default spacing `leading`). */
export function ddimTimesteps(cfg: SchedulerConfig, steps: number, trainTimesteps: number): number[] {
  const t = trainTimesteps;
  const spacing = cfg.timestepSpacing ?? 'leading';
  if (spacing === 'linspace') return linspace(0, t - 1, steps).map(roundHalfEven).reverse();
  if (spacing === 'leading') {
    const ratio = Math.floor(t / steps);
    return Array.from({ length: steps }, (_, i) => i * ratio + (cfg.stepsOffset ?? 0)).reverse();
  }
  return arangeDown(t, 0, -t / steps).map((x) => roundHalfEven(x) - 1);
}

/**
 * diffusers' DDIMScheduler with eta = 0 (deterministic). Its previous timestep is always
 * t − T/N (integer division), whatever the spacing, and below 0 it uses `final_alpha_cumprod`
 * (1 with `set_alpha_to_one`, else ᾱ₀). Defaults as DDIM's: set_alpha_to_one and clip_sample true;
 * `thresholding` replaces clipping when set.
 */
export class DdimScheduler implements Scheduler {
  readonly name: SchedulerName = 'ddim';
  readonly timesteps: readonly number[];
  readonly initNoiseSigma = 1;
  private readonly schedule: NoiseSchedule;
  private readonly stepRatio: number;
  private readonly finalAlphaCumprod: number;
  private readonly prediction: PredictionType;
  private readonly limit: X0Limit;

  constructor(cfg: SchedulerConfig, steps: number, opts: SchedulerOptions = {}) {
    this.schedule = noiseSchedule(cfg, DIFFUSERS_BETA_DEFAULTS);
    const t = this.schedule.numTrainTimesteps;
    checkSteps(steps, t);
    this.timesteps = ddimTimesteps(cfg, steps, t);
    this.stepRatio = Math.floor(t / steps);
    this.finalAlphaCumprod = cfg.setAlphaToOne ?? true ? 1 : (this.schedule.alphasCumprod[0] as number);
    this.prediction = cfg.predictionType ?? 'epsilon';
    this.limit = x0Limit(cfg, true, opts.batch ?? 1);
  }

  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    return vpAddNoise(this.schedule, original, noise, this.timesteps[index] as number);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, _rng: Rng): SchedulerStep {
    const t = this.timesteps[index] as number;
    const prev = t - this.stepRatio;
    const a = this.schedule.alphasCumprod[t] as number;
    const aPrev = prev >= 0 ? (this.schedule.alphasCumprod[prev] as number) : this.finalAlphaCumprod;
    const sa = Math.sqrt(a);
    const sb = Math.sqrt(1 - a);
    const saPrev = Math.sqrt(aPrev);
    const sbPrev = Math.sqrt(1 - aPrev);
    const denoised = new Float32Array(sample.length);
    const eps = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const p = vpPrediction(this.prediction, sample[i] as number, modelOutput[i] as number, sa, sb);
      denoised[i] = p.x0;
      eps[i] = p.eps;
    }
    // Limiting x̂₀ does not change ε̂ (use_clipped_model_output defaults to false).
    limitX0(denoised, this.limit);
    const prevSample = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) prevSample[i] = saPrev * (denoised[i] as number) + sbPrev * (eps[i] as number);
    return { prevSample, denoised };
  }
}

/** √ᾱ_t·x₀ + √(1 − ᾱ_t)·noise: DDIM's and LCM's add_noise at an integer timestep. */
export function vpAddNoise(schedule: NoiseSchedule, original: Float32Array, noise: Float32Array, t: number): Float32Array {
  const a = schedule.alphasCumprod[t] as number;
  const sa = Math.sqrt(a);
  const sb = Math.sqrt(1 - a);
  const out = new Float32Array(original.length);
  for (let i = 0; i < out.length; i++) out[i] = sa * (original[i] as number) + sb * (noise[i] as number);
  return out;
}
