import type { Rng } from '../rng.js';
import type { SchedulerConfig } from './config.js';
import { DIFFUSERS_BETA_DEFAULTS, linspace, noiseSchedule, roundHalfEven, trainSigmas } from './config.js';
import { checkSteps } from './euler.js';
import type { Scheduler, SchedulerName, SchedulerStep } from './types.js';

/** Karras et al. (2022) σ ramp with ρ = 7 between σ_max and σ_min (diffusers' `_convert_to_karras`). */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, steps: number): number[] {
  const rho = 7;
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  return linspace(0, 1, steps).map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/** diffusers' `_sigma_to_t`: the (fractional) training timestep whose log σ is `sigma`'s, by linear interpolation. */
export function sigmaToT(sigma: number, logSigmas: ArrayLike<number>): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  const n = logSigmas.length;
  // Last index whose log σ is ≤ logSigma (log σ rises with t), 0 if none, at most n − 2.
  let low = 0;
  for (let j = 0; j < n; j++) if ((logSigmas[j] as number) <= logSigma) low = j;
  low = Math.min(low, n - 2);
  const lo = logSigmas[low] as number;
  const hi = logSigmas[low + 1] as number;
  const w = Math.min(1, Math.max(0, (lo - logSigma) / (lo - hi)));
  return (1 - w) * low + w * (low + 1);
}

/**
 * diffusers' DPMSolverMultistepScheduler with `use_karras_sigmas=True`, `algorithm_type="dpmsolver++"`,
 * `solver_order=2`, `solver_type="midpoint"`, `final_sigmas_type="zero"`: DPM-Solver++(2M) in the
 * variance-preserving sample space (x = α·x₀ + σ_vp·ε, so no input scaling and unit initial noise).
 * The Karras σs replace the spacing-derived timesteps entirely, so `timestep_spacing` has no effect.
 */
export class DpmPp2mKarrasScheduler implements Scheduler {
  readonly name: SchedulerName = 'dpmpp_2m_karras';
  readonly timesteps: readonly number[];
  /** Karras σs, then 0. */
  readonly sigmas: readonly number[];
  readonly initNoiseSigma = 1;
  private readonly prediction: 'epsilon' | 'v_prediction';
  private previousDenoised: Float32Array | undefined;

  constructor(cfg: SchedulerConfig, steps: number) {
    const schedule = noiseSchedule(cfg, DIFFUSERS_BETA_DEFAULTS);
    checkSteps(steps, schedule.numTrainTimesteps);
    const train = trainSigmas(schedule);
    const logSigmas = train.map(Math.log);
    const karras = karrasSigmas(train[0] as number, train[train.length - 1] as number, steps);
    this.timesteps = karras.map((s) => roundHalfEven(sigmaToT(s, logSigmas)));
    this.sigmas = [...karras, 0];
    this.prediction = cfg.predictionType ?? 'epsilon';
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, _rng: Rng): SchedulerStep {
    const s0 = vp(this.sigmas[index] as number);
    const t = vp(this.sigmas[index + 1] as number);
    const denoised = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i] as number;
      const m = modelOutput[i] as number;
      denoised[i] = this.prediction === 'epsilon' ? (x - s0.sigma * m) / s0.alpha : s0.alpha * x - s0.sigma * m;
    }
    const h = t.lambda - s0.lambda;
    // α_t(e^{−h} − 1); with the final σ = 0, λ_t = ∞ and the update returns x̂₀ exactly.
    const coef = t.alpha * (Math.exp(-h) - 1);
    const ratio = t.sigma === 0 ? 0 : t.sigma / s0.sigma;
    const last = index === this.timesteps.length - 1;
    const prevSample = new Float32Array(sample.length);
    const m1 = this.previousDenoised;
    if (m1 === undefined || last) {
      // First order (DPM-Solver++ 1 = DDIM) at the start, and at the end (lower_order_final).
      for (let i = 0; i < sample.length; i++) prevSample[i] = ratio * (sample[i] as number) - coef * (denoised[i] as number);
    } else {
      const s1 = vp(this.sigmas[index - 1] as number);
      const r0 = (s0.lambda - s1.lambda) / h;
      for (let i = 0; i < sample.length; i++) {
        const d0 = denoised[i] as number;
        const d1 = (d0 - (m1[i] as number)) / r0;
        prevSample[i] = ratio * (sample[i] as number) - coef * d0 - 0.5 * coef * d1;
      }
    }
    this.previousDenoised = denoised;
    return { prevSample, denoised };
  }
}

/** A k-diffusion σ as the VP pair (α_t, σ_t) and its half log-SNR λ = log α − log σ. */
function vp(sigma: number): { alpha: number; sigma: number; lambda: number } {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  const s = sigma * alpha;
  return { alpha, sigma: s, lambda: Math.log(alpha) - Math.log(s) };
}
