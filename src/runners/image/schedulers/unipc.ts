import { HearthError } from '../../../engine/types.js';
import type { Rng } from '../rng.js';
import type { PredictionType, SchedulerConfig } from './config.js';
import { DIFFUSERS_BETA_DEFAULTS, linspace, noiseSchedule, roundHalfEven, trainSigmas } from './config.js';
import { dpmSchedule } from './dpmpp-2m.js';
import { checkSteps } from './euler.js';
import { addNoiseAtSigma, karrasSigmas, sigmaToT, vp } from './sigmas.js';
import type { Scheduler, SchedulerName, SchedulerOptions, SchedulerStep } from './types.js';
import { limitX0, vpPrediction, x0Limit, type X0Limit } from './vp.js';

const f32 = Math.fround;

/**
 * Timesteps and σs of diffusers' UniPCMultistepScheduler.set_timesteps: integer timesteps spaced
 * `linspace` (its default), `leading` (+ `steps_offset`) or `trailing` with σ interpolated at them
 * (the same as DPM-Solver++'s without `lambda_min_clipped`); or, with `use_karras_sigmas`, the Karras
 * ramp between `sigma_min`/`sigma_max` (the training σs when absent) and the rounded timesteps of
 * those σs; or, with `use_exponential_sigmas`, a log-linear ramp between the same bounds and the
 * timesteps of those σs truncated to integers (torch's int64 cast); then the final σ
 * (`final_sigmas_type`: 0 by default, or the smallest σ: the ramp's last for Karras and
 * exponential, the smallest training σ otherwise).
 */
export function unipcSchedule(cfg: SchedulerConfig, steps: number): { timesteps: number[]; sigmas: number[] } {
  if (!cfg.useKarrasSigmas && !cfg.useExponentialSigmas) {
    const { lambdaMinClipped: _ignored, useLuLambdas: _notUniPc, ...rest } = cfg;
    return dpmSchedule(rest, steps, false);
  }
  const schedule = noiseSchedule(cfg, DIFFUSERS_BETA_DEFAULTS);
  const t = schedule.numTrainTimesteps;
  checkSteps(steps, t);
  const train = trainSigmas(schedule);
  const logSigmas = train.map(Math.log);
  const sigmaMin = cfg.sigmaMin ?? (train[0] as number);
  const sigmaMax = cfg.sigmaMax ?? (train[t - 1] as number);
  let sigmas: number[];
  let timesteps: number[];
  if (cfg.useKarrasSigmas) {
    sigmas = karrasSigmas(sigmaMin, sigmaMax, steps);
    timesteps = sigmas.map((s) => roundHalfEven(sigmaToT(s, logSigmas)));
  } else {
    sigmas = linspace(Math.log(sigmaMax), Math.log(sigmaMin), steps).map(Math.exp);
    timesteps = sigmas.map((s) => Math.trunc(sigmaToT(s, logSigmas)));
  }
  const last = cfg.finalSigmasType === 'sigma_min' ? (sigmas[sigmas.length - 1] as number) : 0;
  return { timesteps, sigmas: [...sigmas, last].map(f32) };
}

/** Solves the small dense system a·x = b (Gaussian elimination, partial pivoting): torch.linalg.solve for UniPC's ρ. */
export function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row.slice(0, n), b[i] as number]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs((m[r] as number[])[c] as number) > Math.abs((m[p] as number[])[c] as number)) p = r;
    [m[c], m[p]] = [m[p] as number[], m[c] as number[]];
    const pivot = m[c] as number[];
    for (let r = c + 1; r < n; r++) {
      const row = m[r] as number[];
      const f = (row[c] as number) / (pivot[c] as number);
      for (let k = c; k <= n; k++) row[k] = (row[k] as number) - f * (pivot[k] as number);
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    const row = m[r] as number[];
    let s = row[n] as number;
    for (let k = r + 1; k < n; k++) s -= (row[k] as number) * (x[k] as number);
    x[r] = s / (row[r] as number);
  }
  return x;
}

/**
 * The coefficients of one UniPC update (diffusers' multistep_uni_p_bh_update / multistep_uni_c_bh_update)
 * from λ of the current point `t`, of `s0` and of the earlier points `si` (most recent first).
 */
function bhCoefficients(lambdaT: number, lambdaS0: number, lambdaSi: readonly number[], order: number, predictX0: boolean, bh1: boolean) {
  const h = lambdaT - lambdaS0;
  const rks = lambdaSi.map((l) => (l - lambdaS0) / h);
  const hh = predictX0 ? -h : h;
  const hPhi1 = Math.expm1(hh); // h·φ₁(h) = e^h − 1
  const bH = bh1 ? hh : Math.expm1(hh);
  const all = [...rks, 1];
  const r: number[][] = [];
  const b: number[] = [];
  let hPhiK = hPhi1 / hh - 1;
  let factorial = 1;
  for (let i = 1; i <= order; i++) {
    r.push(all.map((rk) => rk ** (i - 1)));
    b.push((hPhiK * factorial) / bH);
    factorial *= i + 1;
    hPhiK = hPhiK / hh - 1 / factorial;
  }
  return { rks, hPhi1, bH, r, b };
}

/**
 * diffusers' UniPCMultistepScheduler (Zhao et al. 2023, UniPC): a multistep predictor (UniP) and,
 * from the second step on, a corrector (UniC) that refines the previous step's result with the model
 * output just computed. The corrector reuses that evaluation, so it stays one UNet evaluation per step.
 * Works in the variance-preserving sample space as DPM-Solver++ does (no input scaling, unit noise).
 *
 * Honours `solver_order` (any order ≥ 1, warming up from first order and, with `lower_order_final`,
 * lowering it over the last steps), `solver_type` bh1 or bh2 (midpoint, heun and logrho become bh2, as
 * in diffusers), `predict_x0`, `disable_corrector`, every prediction type, `thresholding`,
 * `use_karras_sigmas`, `use_exponential_sigmas`, `sigma_min`/`sigma_max`, `timestep_spacing`,
 * `steps_offset`, `final_sigmas_type`, `rescale_betas_zero_snr` and the beta schedules. Refuses
 * `use_beta_sigmas` (scipy's beta quantiles, not implemented). `solver_p` cannot be written in a JSON
 * file and flow-matching σs are refused when the config is read.
 *
 * Where diffusers computes ∞ · 0 or extrapolates to λ = ∞ it gives NaN; here the limit is taken
 * instead: the last step into σ = 0 (`final_sigmas_type: zero`, the default) is first order, as
 * DPM-Solver++ makes it, a first-order predictor adds no zero-valued B(h) term (diffusers' bh1
 * returns NaN there), and with `predict_x0: false` σ_t·(e^h − 1) is taken at its limit (diffusers:
 * 0·∞). Each of these lands on x̂₀. Every other step is diffusers' arithmetic.
 */
export class UniPcScheduler implements Scheduler {
  readonly name: SchedulerName = 'unipc';
  readonly timesteps: readonly number[];
  /** σ per step, then the final σ. */
  readonly sigmas: readonly number[];
  readonly initNoiseSigma = 1;
  private readonly prediction: PredictionType;
  private readonly limit: X0Limit;
  private readonly solverOrder: number;
  private readonly bh1: boolean;
  private readonly predictX0: boolean;
  private readonly lowerOrderFinal: boolean;
  private readonly disableCorrector: ReadonlySet<number>;
  private readonly lambdas: readonly number[];
  /** Converted model outputs (x̂₀ or ε̂) of the last steps, oldest first, at most `solverOrder`. */
  private modelOutputs: Float32Array[] = [];
  private lowerOrderNums = 0;
  /** The sample before the last predictor step, and that step's order: what the corrector refines. */
  private lastSample: Float32Array | undefined;
  private lastOrder = 0;
  private lastIndex: number | undefined;

  constructor(cfg: SchedulerConfig, steps: number, opts: SchedulerOptions = {}) {
    if (cfg.useBetaSigmas) {
      throw new HearthError('INVALID_INPUT', "UniPC cannot follow this model's scheduler_config.json: use_beta_sigmas is not supported; choose another sampler", {
        field: 'scheduler',
        given: 'unipc',
        key: 'use_beta_sigmas',
      });
    }
    const s = unipcSchedule(cfg, steps);
    this.timesteps = s.timesteps;
    this.sigmas = s.sigmas;
    this.lambdas = this.sigmas.map((sigma) => vp(sigma).lambda);
    this.prediction = cfg.predictionType ?? 'epsilon';
    this.limit = x0Limit({ ...cfg, clipSample: false }, false, opts.batch ?? 1);
    this.solverOrder = cfg.solverOrder ?? 2;
    this.bh1 = cfg.solverType === 'bh1';
    this.predictX0 = cfg.predictX0 ?? true;
    this.lowerOrderFinal = cfg.lowerOrderFinal ?? true;
    this.disableCorrector = new Set(cfg.disableCorrector ?? []);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  addNoise(original: Float32Array, noise: Float32Array, index: number): Float32Array {
    return addNoiseAtSigma(original, noise, this.sigmas[index] as number);
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array, _rng: Rng): SchedulerStep {
    // A job starts at any index (image-to-image) and then goes on one by one; a fresh start warms up again.
    if (this.lastIndex === undefined || index !== this.lastIndex + 1) this.reset();
    this.lastIndex = index;
    const { alpha, sigma } = vp(this.sigmas[index] as number);
    const denoised = new Float32Array(sample.length);
    const converted = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const p = vpPrediction(this.prediction, sample[i] as number, modelOutput[i] as number, alpha, sigma);
      denoised[i] = p.x0;
      converted[i] = p.eps;
    }
    // With predict_x0 the model output becomes x̂₀ (thresholded); otherwise ε̂.
    if (this.predictX0) {
      limitX0(denoised, this.limit);
      converted.set(denoised);
    }
    let x = sample;
    if (index > 0 && !this.disableCorrector.has(index - 1) && this.lastSample !== undefined) {
      x = this.correct(converted, this.lastSample, this.lastOrder, index);
    }
    this.modelOutputs.push(converted);
    if (this.modelOutputs.length > this.solverOrder) this.modelOutputs.shift();
    const n = this.timesteps.length;
    let order = this.lowerOrderFinal ? Math.min(this.solverOrder, n - index) : this.solverOrder;
    order = Math.min(order, this.lowerOrderNums + 1);
    // Into σ = 0 (λ = ∞) only the first-order step is finite (see the class comment).
    if (this.sigmas[index + 1] === 0) order = 1;
    this.lastOrder = order;
    this.lastSample = x;
    const prevSample = this.predict(x, order, index);
    if (this.lowerOrderNums < this.solverOrder) this.lowerOrderNums++;
    return { prevSample, denoised };
  }

  private reset(): void {
    this.modelOutputs = [];
    this.lowerOrderNums = 0;
    this.lastSample = undefined;
    this.lastOrder = 0;
  }

  /** The outputs before the newest, most recent first, with their λs: the history an update of `order` uses. */
  private history(order: number, index: number): { d: Float32Array[]; lambdas: number[] } {
    const d: Float32Array[] = [];
    const lambdas: number[] = [];
    const m = this.modelOutputs;
    for (let i = 1; i < order; i++) {
      d.push(m[m.length - 1 - i] as Float32Array);
      lambdas.push(this.lambdas[index - i] as number);
    }
    return { d, lambdas };
  }

  /** UniP: from the sample at step `index` to σ of step `index + 1`. */
  private predict(x: Float32Array, order: number, index: number): Float32Array {
    const s0 = vp(this.sigmas[index] as number);
    const t = vp(this.sigmas[index + 1] as number);
    const m0 = this.modelOutputs[this.modelOutputs.length - 1] as Float32Array;
    const past = this.history(order, index);
    const c = bhCoefficients(t.lambda, s0.lambda, past.lambdas, order, this.predictX0, this.bh1);
    const rhos = past.d.length === 0 ? [] : order === 2 ? [0.5] : solve(c.r.slice(0, -1), c.b.slice(0, -1));
    return this.update(x, m0, s0, t, c, past.d, rhos);
  }

  /**
   * UniC: the sample at step `index`, which the last predictor made from `lastSample`, made again from
   * `lastSample` with this step's output `modelT` as one more point.
   */
  private correct(modelT: Float32Array, lastSample: Float32Array, order: number, index: number): Float32Array {
    const s0 = vp(this.sigmas[index - 1] as number);
    const t = vp(this.sigmas[index] as number);
    const m0 = this.modelOutputs[this.modelOutputs.length - 1] as Float32Array;
    const past = this.history(order, index - 1);
    const c = bhCoefficients(t.lambda, s0.lambda, past.lambdas, order, this.predictX0, this.bh1);
    const rhos = order === 1 ? [0.5] : solve(c.r, c.b);
    const d1t = new Float32Array(modelT.length);
    for (let i = 0; i < d1t.length; i++) d1t[i] = (modelT[i] as number) - (m0[i] as number);
    // corr_res + ρ_last·D1_t: D1_t enters as one more difference with weight ρ_last and r = 1.
    return this.update(lastSample, m0, s0, t, c, [...past.d, d1t], rhos, true);
  }

  /**
   * x_t = (σ_t/σ_s0)·x − α_t·hφ₁·m0 − α_t·B(h)·Σ ρ_k·D_k with predict_x0 (α and σ swapped otherwise),
   * D_k = (m_k − m0)/r_k for the history; `lastIsD1t` marks the corrector's own term, already a difference.
   */
  private update(
    x: Float32Array,
    m0: Float32Array,
    s0: { alpha: number; sigma: number },
    t: { alpha: number; sigma: number },
    c: { rks: number[]; hPhi1: number; bH: number },
    d: Float32Array[],
    rhos: number[],
    lastIsD1t = false,
  ): Float32Array {
    const [xScale, mScale] = this.predictX0 ? [t.sigma / s0.sigma, t.alpha] : [t.alpha / s0.alpha, t.sigma];
    // On ε̂ into σ_t = 0, σ_t·hφ₁ is 0·∞ (diffusers: NaN); its limit is α_t·σ_s0/α_s0, landing on x̂₀.
    const phiScale = !this.predictX0 && t.sigma === 0 ? (t.alpha * s0.sigma) / s0.alpha : mScale * c.hPhi1;
    const k = -mScale * c.bH;
    const weights = d.map((_, j) => (rhos[j] as number) / (lastIsD1t && j === d.length - 1 ? 1 : (c.rks[j] as number)));
    const out = new Float32Array(x.length);
    for (let i = 0; i < out.length; i++) {
      const mi = m0[i] as number;
      let res = 0;
      for (let j = 0; j < d.length; j++) {
        const dj = (d[j] as Float32Array)[i] as number;
        res += (weights[j] as number) * (lastIsD1t && j === d.length - 1 ? dj : dj - mi);
      }
      const base = xScale * (x[i] as number) - phiScale * mi;
      out[i] = d.length === 0 ? base : base + k * res;
    }
    return out;
  }
}
