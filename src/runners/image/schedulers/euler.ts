import { HearthError } from '../../../engine/types.js';
import type { Rng } from '../rng.js';
import type { NoiseSchedule, SchedulerConfig } from './config.js';
import { arangeDown, DIFFUSERS_BETA_DEFAULTS, interpIndex, linspace, noiseSchedule, roundHalfEven, trainSigmas } from './config.js';
import type { Scheduler, SchedulerName, SchedulerStep } from './types.js';

/**
 * Timesteps and sigmas of diffusers' EulerDiscreteScheduler / EulerAncestralDiscreteScheduler
 * `set_timesteps` (default spacing `linspace`, float timesteps; sigmas interpolated from the
 * training sigmas, then a final 0).
 */
export function eulerSchedule(cfg: SchedulerConfig, steps: number): { timesteps: number[]; sigmas: number[]; initNoiseSigma: number; schedule: NoiseSchedule } {
  const schedule = noiseSchedule(cfg, DIFFUSERS_BETA_DEFAULTS);
  const t = schedule.numTrainTimesteps;
  checkSteps(steps, t);
  const spacing = cfg.timestepSpacing ?? 'linspace';
  let timesteps: number[];
  if (spacing === 'linspace') {
    // np.linspace(..., dtype=float32): the UNet sees float32 timesteps.
    timesteps = linspace(0, t - 1, steps).reverse().map(Math.fround);
  } else if (spacing === 'leading') {
    const ratio = Math.floor(t / steps);
    timesteps = Array.from({ length: steps }, (_, i) => i * ratio + (cfg.stepsOffset ?? 0)).reverse();
  } else {
    timesteps = arangeDown(t, 0, -t / steps).map((x) => roundHalfEven(x) - 1);
  }
  const train = trainSigmas(schedule);
  const sigmas = [...timesteps.map((ts) => interpIndex(ts, train)), 0];
  const maxSigma = Math.max(...sigmas);
  // As diffusers' init_noise_sigma: √(σ_max² + 1) for `leading` spacing, σ_max otherwise.
  const initNoiseSigma = spacing === 'leading' ? Math.sqrt(maxSigma * maxSigma + 1) : maxSigma;
  return { timesteps, sigmas, initNoiseSigma, schedule };
}

export function checkSteps(steps: number, trainTimesteps: number): void {
  if (!Number.isInteger(steps) || steps < 1 || steps > trainTimesteps) {
    throw new HearthError(
      'INVALID_INPUT',
      `steps must be between 1 and ${trainTimesteps} (the model's training timesteps); got ${steps}`,
      { field: 'steps', given: steps, min: 1, max: trainTimesteps },
    );
  }
}

/** x̂₀ of the k-diffusion parameterisation x = x₀ + σ·ε (epsilon) or its v-prediction form. */
export function eulerDenoised(modelOutput: Float32Array, sample: Float32Array, sigma: number, prediction: 'epsilon' | 'v_prediction'): Float32Array {
  const out = new Float32Array(sample.length);
  if (prediction === 'epsilon') {
    for (let i = 0; i < out.length; i++) out[i] = (sample[i] as number) - sigma * (modelOutput[i] as number);
  } else {
    const cOut = -sigma / Math.sqrt(sigma * sigma + 1);
    const cSkip = 1 / (sigma * sigma + 1);
    for (let i = 0; i < out.length; i++) out[i] = (modelOutput[i] as number) * cOut + (sample[i] as number) * cSkip;
  }
  return out;
}

/** Input scaling for σ-space samplers: x / √(σ² + 1). */
export function scaleBySigma(sample: Float32Array, sigma: number): Float32Array {
  const k = 1 / Math.sqrt(sigma * sigma + 1);
  const out = new Float32Array(sample.length);
  for (let i = 0; i < out.length; i++) out[i] = (sample[i] as number) * k;
  return out;
}

/** diffusers' EulerDiscreteScheduler with its defaults (s_churn = 0: plain Euler on the probability-flow ODE). */
export class EulerScheduler implements Scheduler {
  readonly name: SchedulerName = 'euler';
  readonly timesteps: readonly number[];
  readonly sigmas: readonly number[];
  readonly initNoiseSigma: number;
  protected readonly prediction: 'epsilon' | 'v_prediction';

  constructor(cfg: SchedulerConfig, steps: number) {
    const s = eulerSchedule(cfg, steps);
    this.timesteps = s.timesteps;
    this.sigmas = s.sigmas;
    this.initNoiseSigma = s.initNoiseSigma;
    this.prediction = cfg.predictionType ?? 'epsilon';
  }

  scaleModelInput(sample: Float32Array, index: number): Float32Array {
    return scaleBySigma(sample, this.sigmas[index] as number);
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, _rng: Rng): SchedulerStep {
    const sigma = this.sigmas[index] as number;
    const dt = (this.sigmas[index + 1] as number) - sigma;
    const denoised = eulerDenoised(modelOutput, sample, sigma, this.prediction);
    const prevSample = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i] as number;
      prevSample[i] = x + ((x - (denoised[i] as number)) / sigma) * dt;
    }
    return { prevSample, denoised };
  }
}
