import type { Rng } from '../rng.js';
import type { NoiseSchedule, SchedulerConfig } from './config.js';
import { arangeDown, DIFFUSERS_BETA_DEFAULTS, linspace, noiseSchedule, roundHalfEven } from './config.js';
import { checkSteps } from './euler.js';
import type { Scheduler, SchedulerName, SchedulerStep } from './types.js';

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
 * (1 with `set_alpha_to_one`, else ᾱ₀). Defaults as DDIM's: set_alpha_to_one and clip_sample true.
 */
export class DdimScheduler implements Scheduler {
  readonly name: SchedulerName = 'ddim';
  readonly timesteps: readonly number[];
  readonly initNoiseSigma = 1;
  private readonly schedule: NoiseSchedule;
  private readonly stepRatio: number;
  private readonly finalAlphaCumprod: number;
  private readonly prediction: 'epsilon' | 'v_prediction';
  private readonly clip: number | undefined;

  constructor(cfg: SchedulerConfig, steps: number) {
    this.schedule = noiseSchedule(cfg, DIFFUSERS_BETA_DEFAULTS);
    const t = this.schedule.numTrainTimesteps;
    checkSteps(steps, t);
    this.timesteps = ddimTimesteps(cfg, steps, t);
    this.stepRatio = Math.floor(t / steps);
    this.finalAlphaCumprod = cfg.setAlphaToOne ?? true ? 1 : (this.schedule.alphasCumprod[0] as number);
    this.prediction = cfg.predictionType ?? 'epsilon';
    this.clip = cfg.clipSample ?? true ? (cfg.clipSampleRange ?? 1) : undefined;
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
    const prevSample = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i] as number;
      const m = modelOutput[i] as number;
      let x0 = this.prediction === 'epsilon' ? (x - sb * m) / sa : sa * x - sb * m;
      // Clipping x̂₀ does not change ε̂ (use_clipped_model_output defaults to false).
      const eps = this.prediction === 'epsilon' ? m : sa * m + sb * x;
      if (this.clip !== undefined) x0 = Math.min(this.clip, Math.max(-this.clip, x0));
      denoised[i] = x0;
      prevSample[i] = saPrev * x0 + sbPrev * eps;
    }
    return { prevSample, denoised };
  }
}
