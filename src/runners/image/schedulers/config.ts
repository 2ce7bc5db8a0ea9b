import { HearthError } from '../../../engine/types.js';

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';
export type FinalSigmasType = 'zero' | 'sigma_min';

const BETA_SCHEDULES: readonly BetaSchedule[] = ['linear', 'scaled_linear', 'squaredcos_cap_v2'];
const SPACINGS: readonly TimestepSpacing[] = ['leading', 'trailing', 'linspace'];
const PREDICTIONS: readonly PredictionType[] = ['epsilon', 'v_prediction', 'sample'];
const FINAL_SIGMAS: readonly FinalSigmasType[] = ['zero', 'sigma_min'];

/**
 * A model's scheduler/scheduler_config.json. Keys the file leaves out stay undefined: diffusers'
 * `from_config` fills them with the defaults of the scheduler being built (not of the one the file
 * names), and each of our schedulers does the same.
 */
export interface SchedulerConfig {
  /** `_class_name`, e.g. `PNDMScheduler`: what `default` resolves to. */
  className: string;
  numTrainTimesteps?: number;
  betaStart?: number;
  betaEnd?: number;
  betaSchedule?: BetaSchedule;
  trainedBetas?: number[];
  predictionType?: PredictionType;
  timestepSpacing?: TimestepSpacing;
  stepsOffset?: number;
  setAlphaToOne?: boolean;
  clipSample?: boolean;
  clipSampleRange?: number;
  originalInferenceSteps?: number;
  timestepScaling?: number;
  /** Karras σs (Euler, DPM-Solver++). */
  useKarrasSigmas?: boolean;
  /** Log-linear σs (DPM-Solver++'s `use_lu_lambdas`). */
  useLuLambdas?: boolean;
  /** Bounds of the Karras ramp (Euler's `sigma_min`/`sigma_max`; the training σs when absent). */
  sigmaMin?: number;
  sigmaMax?: number;
  /** The σ after the last step: 0 (a clean sample) or the smallest training σ. */
  finalSigmasType?: FinalSigmasType;
  /** DPM-Solver++: first-order final step below 15 steps. */
  lowerOrderFinal?: boolean;
  /** DPM-Solver++: first-order final step always. */
  eulerAtFinal?: boolean;
  /** DPM-Solver++: 1, 2 or 3 (3 runs as 2); UniPC: any order ≥ 1. */
  solverOrder?: number;
  /**
   * As the file says it: DPM-Solver++'s `midpoint` or `heun` step, UniPC's `bh1` or `bh2`, DEIS's
   * `logrho`. Each sampler maps the others' types as its diffusers `from_config` does (DPM-Solver++:
   * logrho, bh1, bh2 → midpoint; UniPC: midpoint, heun, logrho → bh2).
   */
  solverType?: 'midpoint' | 'heun' | 'logrho' | 'bh1' | 'bh2';
  /** UniPC: update on x̂₀ (true, the default) or on ε̂ (false). */
  predictX0?: boolean;
  /** UniPC: the step indices after which the corrector is not applied. */
  disableCorrector?: number[];
  /** Exponential (log-linear) σs between σ_max and σ_min (UniPC follows it; see each sampler). */
  useExponentialSigmas?: boolean;
  /** Beta-distributed σs (no sampler here follows it; UniPC refuses a config that asks for it). */
  useBetaSigmas?: boolean;
  /** DPM-Solver: `dpmsolver++` (and its SDE variants, which run as dpmsolver++). */
  algorithmType?: string;
  /** DPM-Solver++: timesteps whose λ is below this are not used (-Infinity: all are). */
  lambdaMinClipped?: number;
  /** Dynamic thresholding of x̂₀ (Imagen): DDIM, DPM-Solver++, LCM. */
  thresholding?: boolean;
  dynamicThresholdingRatio?: number;
  sampleMaxValue?: number;
  /** Zero terminal SNR (Lin et al. 2023). */
  rescaleBetasZeroSnr?: boolean;
  /** Euler: `linear` interpolation of σ at the timesteps, or `log_linear` σs. */
  interpolationType?: 'linear' | 'log_linear';
  /** Euler: `discrete` timesteps, or `continuous` (¼·log σ, with v-prediction). */
  timestepType?: 'discrete' | 'continuous';
}

/** The training noise schedule of a resolved config. */
export interface NoiseSchedule {
  numTrainTimesteps: number;
  /** float32, as diffusers' torch tensors hold it. */
  alphasCumprod: Float32Array;
}

const PYTHON_FLOATS: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };
const PY_SENTINEL = '\u0000py-float:';

/**
 * Parses JSON as Python's json module writes it, which is how diffusers saves every config: besides
 * standard JSON, the bare literals `NaN`, `Infinity` and `-Infinity` that `json.dumps` emits for
 * non-finite floats (DPMSolverMultistepScheduler's default `lambda_min_clipped = -inf` is saved as
 * `-Infinity`), which JSON.parse rejects. Text inside strings is left alone. Throws SyntaxError as
 * JSON.parse does.
 */
export function parseDiffusersJson(text: string): unknown {
  const json = text.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g, (m) => (m.startsWith('"') ? m : JSON.stringify(PY_SENTINEL + m)));
  return JSON.parse(json, (_key, value: unknown) =>
    typeof value === 'string' && value.startsWith(PY_SENTINEL) ? PYTHON_FLOATS[value.slice(PY_SENTINEL.length)] : value,
  );
}

/** Parses scheduler_config.json; `file` names the file in errors. */
export function parseSchedulerConfig(json: unknown, file: string): SchedulerConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw invalid(file, 'a JSON object', describe(json));
  }
  const o = json as Record<string, unknown>;
  const cfg: SchedulerConfig = { className: typeof o._class_name === 'string' ? o._class_name : '' };
  const num = (key: string, opts: { integer?: boolean; min?: number } = {}): number | undefined => {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || (opts.integer && !Number.isInteger(v)) || v < (opts.min ?? -Infinity)) {
      throw invalid(file, `${key} to be ${opts.integer ? 'an integer' : 'a number'}${opts.min !== undefined ? ` ≥ ${opts.min}` : ''}`, describe(v));
    }
    return v;
  };
  const bool = (key: string): boolean | undefined => {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') throw invalid(file, `${key} to be true or false`, describe(v));
    return v;
  };
  const oneOf = <T extends string>(key: string, allowed: readonly T[]): T | undefined => {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      throw invalid(file, `${key} to be one of ${allowed.join(', ')}`, describe(v));
    }
    return v as T;
  };
  const set = <K extends keyof SchedulerConfig>(key: K, value: SchedulerConfig[K] | undefined): void => {
    if (value !== undefined) cfg[key] = value;
  };
  set('numTrainTimesteps', num('num_train_timesteps', { integer: true, min: 2 }));
  set('betaStart', num('beta_start', { min: 0 }));
  set('betaEnd', num('beta_end', { min: 0 }));
  set('betaSchedule', oneOf('beta_schedule', BETA_SCHEDULES));
  set('predictionType', oneOf('prediction_type', PREDICTIONS));
  set('timestepSpacing', oneOf('timestep_spacing', SPACINGS));
  set('stepsOffset', num('steps_offset', { integer: true, min: 0 }));
  set('setAlphaToOne', bool('set_alpha_to_one'));
  set('clipSample', bool('clip_sample'));
  set('clipSampleRange', num('clip_sample_range', { min: 0 }));
  set('originalInferenceSteps', num('original_inference_steps', { integer: true, min: 1 }));
  set('timestepScaling', num('timestep_scaling', { min: 0 }));
  set('useKarrasSigmas', bool('use_karras_sigmas'));
  set('useLuLambdas', bool('use_lu_lambdas'));
  set('sigmaMin', num('sigma_min', { min: 0 }));
  set('sigmaMax', num('sigma_max', { min: 0 }));
  set('finalSigmasType', oneOf('final_sigmas_type', FINAL_SIGMAS));
  set('lowerOrderFinal', bool('lower_order_final'));
  set('eulerAtFinal', bool('euler_at_final'));
  set('solverOrder', num('solver_order', { integer: true, min: 1 }));
  set('solverType', oneOf('solver_type', ['midpoint', 'heun', 'logrho', 'bh1', 'bh2'] as const));
  set('predictX0', bool('predict_x0'));
  const dc = o.disable_corrector;
  if (dc !== undefined && dc !== null) {
    if (!Array.isArray(dc) || !dc.every((i) => Number.isInteger(i) && (i as number) >= 0)) {
      throw invalid(file, 'disable_corrector to be a list of step indices (integers ≥ 0)', describe(dc));
    }
    cfg.disableCorrector = dc as number[];
  }
  set('useExponentialSigmas', bool('use_exponential_sigmas'));
  set('useBetaSigmas', bool('use_beta_sigmas'));
  // Flow-matching σs (SD3, Flux, Wan exports) mean a model none of our samplers can run, as `flow_prediction` does.
  if (bool('use_flow_sigmas')) throw invalid(file, 'use_flow_sigmas to be false (flow-matching schedules are not supported)', 'true');
  set('algorithmType', oneOf('algorithm_type', ['dpmsolver++', 'sde-dpmsolver++', 'dpmsolver', 'sde-dpmsolver', 'deis'] as const));
  const lmc = o.lambda_min_clipped;
  if (lmc !== undefined && lmc !== null) {
    if (typeof lmc !== 'number' || Number.isNaN(lmc) || lmc === Infinity) throw invalid(file, 'lambda_min_clipped to be a number or -Infinity', describe(lmc));
    cfg.lambdaMinClipped = lmc;
  }
  set('thresholding', bool('thresholding'));
  set('dynamicThresholdingRatio', num('dynamic_thresholding_ratio', { min: 0 }));
  set('sampleMaxValue', num('sample_max_value', { min: 0 }));
  set('rescaleBetasZeroSnr', bool('rescale_betas_zero_snr'));
  set('interpolationType', oneOf('interpolation_type', ['linear', 'log_linear'] as const));
  set('timestepType', oneOf('timestep_type', ['discrete', 'continuous'] as const));
  const sigmaKinds = ['use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas'].filter((k) => o[k] === true);
  if (sigmaKinds.length > 1) throw invalid(file, 'at most one of use_karras_sigmas, use_exponential_sigmas, use_beta_sigmas', sigmaKinds.join(' and '));
  const tb = o.trained_betas;
  if (tb !== undefined && tb !== null) {
    if (!Array.isArray(tb) || !tb.every((b) => typeof b === 'number' && b >= 0 && b < 1)) {
      throw invalid(file, 'trained_betas to be a list of numbers in [0, 1)', describe(tb));
    }
    cfg.trainedBetas = tb as number[];
    if (cfg.numTrainTimesteps !== undefined && cfg.numTrainTimesteps !== tb.length) {
      throw invalid(file, `trained_betas to have num_train_timesteps (${cfg.numTrainTimesteps}) entries`, `${tb.length}`);
    }
  }
  return cfg;
}

/** Training defaults shared by diffusers' schedulers (EulerDiscrete, DDIM, DPMSolverMultistep…). */
export const DIFFUSERS_BETA_DEFAULTS = { numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear' } as const;

/**
 * betas → alphas_cumprod, as diffusers' scheduler constructors compute them, in float32 as its torch
 * tensors hold them: linear: torch.linspace(beta_start, beta_end, T, float32); scaled_linear:
 * torch.linspace(√beta_start, √beta_end, T, float32)²; squaredcos_cap_v2: betas_for_alpha_bar with
 * ᾱ(t) = cos²((t + 0.008)/1.008 · π/2), capped at 0.999 (computed in float64, stored float32); then
 * `rescale_betas_zero_snr` (Lin et al. 2023, Algorithm 1) and torch.cumprod (accumulated in double
 * on the CPU, each entry stored float32), the last entry set to 2⁻²⁴ when rescaled.
 */
export function noiseSchedule(
  cfg: SchedulerConfig,
  defaults: { numTrainTimesteps: number; betaStart: number; betaEnd: number; betaSchedule: BetaSchedule },
): NoiseSchedule {
  let betas: Float32Array = Float32Array.from(
    cfg.trainedBetas ??
      betaSchedule(cfg.numTrainTimesteps ?? defaults.numTrainTimesteps, cfg.betaStart ?? defaults.betaStart, cfg.betaEnd ?? defaults.betaEnd, cfg.betaSchedule ?? defaults.betaSchedule),
  );
  if (cfg.rescaleBetasZeroSnr) betas = rescaleZeroTerminalSnr(betas);
  const alphasCumprod = cumprod(betas.map((b) => f32(1 - b)));
  if (cfg.rescaleBetasZeroSnr) alphasCumprod[alphasCumprod.length - 1] = 2 ** -24;
  return { numTrainTimesteps: betas.length, alphasCumprod };
}

const f32 = Math.fround;

/** torch.cumprod of a float32 tensor on the CPU: a double accumulator, each entry rounded to float32. */
function cumprod(a: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  let prod = 1;
  a.forEach((v, i) => {
    prod *= v;
    out[i] = prod;
  });
  return out;
}

/** diffusers' rescale_zero_terminal_snr, in float32. */
function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const sqrtAc = cumprod(betas.map((b) => f32(1 - b))).map((a) => f32(Math.sqrt(a)));
  const first = sqrtAc[0] as number;
  const last = sqrtAc[sqrtAc.length - 1] as number;
  const scale = f32(first / f32(first - last));
  const ac = sqrtAc.map((v) => f32(f32(f32(v - last) * scale) ** 2));
  return ac.map((v, i) => f32(1 - (i === 0 ? v : f32(v / (ac[i - 1] as number)))));
}

function betaSchedule(t: number, start: number, end: number, schedule: BetaSchedule): number[] {
  switch (schedule) {
    case 'linear':
      return torchLinspace32(start, end, t);
    case 'scaled_linear':
      return torchLinspace32(Math.sqrt(start), Math.sqrt(end), t).map((b) => f32(b * b));
    case 'squaredcos_cap_v2': {
      const alphaBar = (x: number): number => Math.cos(((x + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
      return Array.from({ length: t }, (_, i) => Math.min(1 - alphaBar((i + 1) / t) / alphaBar(i / t), 0.999));
    }
  }
}

/** torch.linspace(start, end, n, dtype=float32) on the CPU: float32 step, the second half counted back from the end. */
export function torchLinspace32(start: number, end: number, n: number): number[] {
  const a = f32(start);
  const b = f32(end);
  if (n === 1) return [a];
  const step = f32(f32(b - a) / (n - 1));
  const half = Math.floor(n / 2);
  return Array.from({ length: n }, (_, i) => (i < half ? f32(a + f32(step * i)) : f32(b - f32(step * (n - i - 1)))));
}

/** numpy.linspace(start, stop, n) (endpoint included). */
export function linspace(start: number, stop: number, n: number): number[] {
  if (n === 1) return [start];
  const step = (stop - start) / (n - 1);
  return Array.from({ length: n }, (_, i) => (i === n - 1 ? stop : start + i * step));
}

/** numpy.round: halves go to the even neighbour (Math.round would send 812.5 to 813, numpy to 812). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** numpy.arange(start, stop, step) for a negative float step. */
export function arangeDown(start: number, stop: number, step: number): number[] {
  const n = Math.ceil((stop - start) / step);
  return Array.from({ length: Math.max(0, n) }, (_, i) => start + i * step);
}

/** √((1 − ᾱ)/ᾱ) per training timestep: the k-diffusion sigmas, ascending in t. */
export function trainSigmas(s: NoiseSchedule): Float32Array {
  return s.alphasCumprod.map((a) => f32(Math.sqrt(f32(f32(1 - a) / a))));
}

/** numpy.interp(x, [0, 1, …, n−1], ys). */
export function interpIndex(x: number, ys: ArrayLike<number>): number {
  const n = ys.length;
  if (x <= 0) return ys[0] as number;
  if (x >= n - 1) return ys[n - 1] as number;
  const lo = Math.floor(x);
  const f = x - lo;
  return (ys[lo] as number) * (1 - f) + (ys[lo + 1] as number) * f;
}

function invalid(file: string, expected: string, given: string): HearthError {
  return new HearthError('MODEL_INVALID', `${file}: expected ${expected}; got ${given}`, { file, expected, given });
}

function describe(v: unknown): string {
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v); // JSON.stringify says "null"
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
