import { HearthError } from '../../../engine/types.js';
import type { Rng } from '../rng.js';
import type { NoiseSchedule, PredictionType, SchedulerConfig } from './config.js';
import { arangeDown, DIFFUSERS_BETA_DEFAULTS, interpIndex, linspace, noiseSchedule, roundHalfEven, trainSigmas } from './config.js';
import { karrasSigmas, sigmaToT } from './sigmas.js';
import type { Scheduler, SchedulerName, SchedulerStep } from './types.js';

const f32 = Math.fround;

/** Spaced timesteps of EulerDiscreteScheduler.set_timesteps (float32, `linspace` by default). */
export function eulerTimesteps(cfg: SchedulerConfig, steps: number, t: number): number[] {
  const spacing = cfg.timestepSpacing ?? 'linspace';
  // np.linspace(..., dtype=float32): the UNet sees float32 timesteps.
  if (spacing === 'linspace') return linspace(0, t - 1, steps).reverse().map(f32);
  if (spacing === 'leading') {
    const ratio = Math.floor(t / steps);
    return Array.from({ length: steps }, (_, i) => i * ratio + (cfg.stepsOffset ?? 0)).reverse();
  }
  return arangeDown(t, 0, -t / steps).map((x) => roundHalfEven(x) - 1);
}

/**
 * Timesteps and sigmas of diffusers' EulerDiscreteScheduler.set_timesteps (and, with `ancestral`,
 * EulerAncestralDiscreteScheduler's, which knows no Karras σs nor final σ): σ interpolated from the
 * training σs at the spaced timesteps (`interpolation_type` linear) or log-linear from σ_max to σ_min;
 * with `use_karras_sigmas` the Karras ramp between them (bounded by `sigma_min`/`sigma_max` if set) and
 * the fractional timesteps of those σs; then the final σ: 0, or σ_min with `final_sigmas_type: sigma_min`.
 */
export function eulerSchedule(
  cfg: SchedulerConfig,
  steps: number,
  ancestral = false,
): { timesteps: number[]; sigmas: number[]; initNoiseSigma: number; schedule: NoiseSchedule } {
  const schedule = noiseSchedule(cfg, DIFFUSERS_BETA_DEFAULTS);
  const t = schedule.numTrainTimesteps;
  checkSteps(steps, t);
  let timesteps = eulerTimesteps(cfg, steps, t);
  const train = trainSigmas(schedule);
  const logSigmas = train.map(Math.log);
  let sigmas =
    !ancestral && cfg.interpolationType === 'log_linear'
      ? linspace(Math.log(train[t - 1] as number), Math.log(train[0] as number), steps + 1).map((l) => f32(Math.exp(l)))
      : timesteps.map((ts) => interpIndex(ts, train));
  if (!ancestral && cfg.useKarrasSigmas) {
    sigmas = karrasSigmas(cfg.sigmaMin ?? (sigmas[sigmas.length - 1] as number), cfg.sigmaMax ?? (sigmas[0] as number), steps);
    timesteps = sigmas.map((s) => f32(sigmaToT(s, logSigmas)));
  }
  const last = !ancestral && cfg.finalSigmasType === 'sigma_min' ? (train[0] as number) : 0;
  sigmas = [...sigmas, last].map(f32);
  if (!ancestral && cfg.timestepType === 'continuous' && cfg.predictionType === 'v_prediction') {
    timesteps = sigmas.slice(0, -1).map((s) => f32(0.25 * Math.log(s)));
  }
  const maxSigma = Math.max(...sigmas);
  // As diffusers' init_noise_sigma: σ_max for `linspace` and `trailing` spacing, √(σ_max² + 1) otherwise.
  const spacing = cfg.timestepSpacing ?? 'linspace';
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

/** x̂₀ of the k-diffusion parameterisation x = x₀ + σ·ε (epsilon), its v-prediction form, or the output itself (sample). */
export function eulerDenoised(modelOutput: Float32Array, sample: Float32Array, sigma: number, prediction: PredictionType): Float32Array {
  if (prediction === 'sample') return Float32Array.from(modelOutput);
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

/** x₀ + σ·noise: a σ-space sampler's add_noise. */
export function noiseBySigma(original: Float32Array, noise: Float32Array, sigma: number): Float32Array {
  const out = new Float32Array(original.length);
  for (let i = 0; i < out.length; i++) out[i] = (original[i] as number) + (noise[i] as number) * sigma;
  return out;
}

/** diffusers' EulerDiscreteScheduler (s_churn = 0: plain Euler on the probability-flow ODE), every config key it reads honoured. */
export class EulerScheduler implements Scheduler {
  readonly name: SchedulerName = 'euler';
  readonly timesteps: readonly number[];
  readonly sigmas: readonly number[];
  readonly initNoiseSigma: number;
  protected readonly prediction: PredictionType;

  constructor(cfg: SchedulerConfig, steps: number, ancestral = false) {
    const s = eulerSchedule(cfg, steps, ancestral);
    this.timesteps = s.timesteps;
    this.sigmas = s.sigmas;
    this.initNoiseSigma = s.initNoiseSigma;
    this.prediction = cfg.predictionType ?? 'epsilon';
  }

  scaleModelInput(sample: Float32Array, index: number): Float32Array {
    return scaleBySigma(sample, this.sigmas[index] as number);
  }

  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    return noiseBySigma(original, noise, this.sigmas[index] as number);
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
