import type { Rng } from '../rng.js';
import type { PredictionType, SchedulerConfig } from './config.js';
import { arangeDown, DIFFUSERS_BETA_DEFAULTS, interpIndex, linspace, noiseSchedule, roundHalfEven, trainSigmas } from './config.js';
import { checkSteps } from './euler.js';
import { addNoiseAtSigma, karrasSigmas, sigmaToT, vp } from './sigmas.js';
import type { Scheduler, SchedulerName, SchedulerOptions, SchedulerStep } from './types.js';
import { limitX0, vpPrediction, x0Limit, type X0Limit } from './vp.js';

const f32 = Math.fround;

/**
 * Timesteps and σs of diffusers' DPMSolverMultistepScheduler.set_timesteps: integer timesteps spaced
 * over [0, T − clipped) (`lambda_min_clipped` drops the timesteps whose λ is below it), σ interpolated
 * at them; or, with `karras` (`use_karras_sigmas`), the Karras ramp over the training σs, or with
 * `use_lu_lambdas` a log-linear one, and the rounded timesteps of those σs; then the final σ
 * (`final_sigmas_type`: 0 by default, or the smallest training σ).
 */
export function dpmSchedule(cfg: SchedulerConfig, steps: number, karras: boolean): { timesteps: number[]; sigmas: number[] } {
  const schedule = noiseSchedule(cfg, DIFFUSERS_BETA_DEFAULTS);
  const t = schedule.numTrainTimesteps;
  checkSteps(steps, t);
  const train = trainSigmas(schedule);
  const logSigmas = train.map(Math.log);
  // searchsorted(flip(λ_t), lambda_min_clipped): λ falls with t, so count the λs below the bound.
  const minLambda = cfg.lambdaMinClipped ?? -Infinity;
  const clipped = Array.from(schedule.alphasCumprod).filter((a) => f32(Math.log(f32(Math.sqrt(a))) - Math.log(f32(Math.sqrt(f32(1 - a))))) < minLambda).length;
  const lastT = t - clipped;
  const spacing = cfg.timestepSpacing ?? 'linspace';
  let timesteps: number[];
  if (spacing === 'linspace') timesteps = linspace(0, lastT - 1, steps + 1).map(roundHalfEven).reverse().slice(0, -1);
  else if (spacing === 'leading') {
    const ratio = Math.floor(lastT / (steps + 1));
    timesteps = Array.from({ length: steps }, (_, i) => (steps - i) * ratio + (cfg.stepsOffset ?? 0));
  } else timesteps = arangeDown(lastT, 0, -t / steps).map((x) => roundHalfEven(x) - 1);
  let sigmas: number[];
  const roundTs = (ts: number): number => (cfg.betaSchedule === 'squaredcos_cap_v2' ? ts : roundHalfEven(ts));
  if (karras) {
    sigmas = karrasSigmas(train[0] as number, train[t - 1] as number, steps);
    timesteps = sigmas.map((s) => roundTs(sigmaToT(s, logSigmas)));
  } else if (cfg.useLuLambdas) {
    sigmas = linspace(logSigmas[t - 1] as number, logSigmas[0] as number, steps).map(Math.exp);
    timesteps = sigmas.map((s) => roundTs(sigmaToT(s, logSigmas)));
  } else {
    sigmas = timesteps.map((ts) => interpIndex(ts, train));
  }
  const last = cfg.finalSigmasType === 'sigma_min' ? (train[0] as number) : 0;
  return { timesteps, sigmas: [...sigmas, last].map(f32) };
}

/**
 * diffusers' DPMSolverMultistepScheduler, `algorithm_type: dpmsolver++` (DPM-Solver++(2M)) in the
 * variance-preserving sample space (x = α·x₀ + σ_vp·ε: no input scaling, unit initial noise),
 * honouring `use_karras_sigmas` (or forcing it: the `dpmpp_2m_karras` and `dpmpp_2m` samplers),
 * `use_lu_lambdas`, `final_sigmas_type`, `lower_order_final`, `euler_at_final`, `solver_order` 1 or 2
 * (3 runs as 2), `solver_type` midpoint or heun, `thresholding`, `lambda_min_clipped`, every
 * prediction type. The SDE variants run as the deterministic dpmsolver++.
 */
export class DpmSolverMultistepScheduler implements Scheduler {
  readonly name: SchedulerName;
  readonly timesteps: readonly number[];
  /** σ per step, then the final σ. */
  readonly sigmas: readonly number[];
  readonly initNoiseSigma = 1;
  private readonly prediction: PredictionType;
  private readonly limit: X0Limit;
  private readonly order: number;
  private readonly heun: boolean;
  private readonly firstOrderLast: boolean;
  private previousDenoised: Float32Array | undefined;

  /** `karras` forces Karras σs on or off; undefined follows the config's `use_karras_sigmas`. */
  constructor(cfg: SchedulerConfig, steps: number, karras?: boolean, opts: SchedulerOptions = {}) {
    const useKarras = karras ?? cfg.useKarrasSigmas ?? false;
    this.name = useKarras ? 'dpmpp_2m_karras' : 'dpmpp_2m';
    const s = dpmSchedule(cfg, steps, useKarras);
    this.timesteps = s.timesteps;
    this.sigmas = s.sigmas;
    this.prediction = cfg.predictionType ?? 'epsilon';
    this.limit = x0Limit({ ...cfg, clipSample: false }, false, opts.batch ?? 1);
    this.order = Math.min(cfg.solverOrder ?? 2, 2);
    this.heun = cfg.solverType === 'heun';
    const n = this.timesteps.length;
    this.firstOrderLast = (cfg.eulerAtFinal ?? false) || ((cfg.lowerOrderFinal ?? true) && n < 15) || (cfg.finalSigmasType ?? 'zero') === 'zero';
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    return addNoiseAtSigma(original, noise, this.sigmas[index] as number);
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, _rng: Rng): SchedulerStep {
    const s0 = vp(this.sigmas[index] as number);
    const t = vp(this.sigmas[index + 1] as number);
    const denoised = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) denoised[i] = vpPrediction(this.prediction, sample[i] as number, modelOutput[i] as number, s0.alpha, s0.sigma).x0;
    limitX0(denoised, this.limit);
    const h = t.lambda - s0.lambda;
    // α_t(e^{−h} − 1); with the final σ = 0, λ_t = ∞ and the first-order update returns x̂₀ exactly.
    const coef = t.alpha * (Math.exp(-h) - 1);
    const ratio = t.sigma === 0 ? 0 : t.sigma / s0.sigma;
    const last = index === this.timesteps.length - 1;
    const prevSample = new Float32Array(sample.length);
    const m1 = this.previousDenoised;
    if (this.order === 1 || m1 === undefined || (last && this.firstOrderLast)) {
      // DPM-Solver++ 1 (= DDIM): the first step, and the last under lower_order_final / euler_at_final / a final σ of 0.
      for (let i = 0; i < sample.length; i++) prevSample[i] = ratio * (sample[i] as number) - coef * (denoised[i] as number);
    } else {
      const s1 = vp(this.sigmas[index - 1] as number);
      const r0 = (s0.lambda - s1.lambda) / h;
      // midpoint: − ½·α_t(e^{−h} − 1)·D1; heun: + α_t((e^{−h} − 1)/h + 1)·D1
      const k1 = this.heun ? t.alpha * ((Math.exp(-h) - 1) / h + 1) : -0.5 * coef;
      for (let i = 0; i < sample.length; i++) {
        const d0 = denoised[i] as number;
        const d1 = (d0 - (m1[i] as number)) / r0;
        prevSample[i] = ratio * (sample[i] as number) - coef * d0 + k1 * d1;
      }
    }
    this.previousDenoised = denoised;
    return { prevSample, denoised };
  }
}
