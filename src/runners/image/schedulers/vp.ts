import type { PredictionType, SchedulerConfig } from './config.js';

/**
 * x̂₀ and ε̂ from a model output in the variance-preserving parameterisation x = √ᾱ·x₀ + √(1−ᾱ)·ε
 * (`sa` = √ᾱ, `sb` = √(1−ᾱ)), for the three prediction types diffusers knows.
 */
export function vpPrediction(prediction: PredictionType, x: number, m: number, sa: number, sb: number): { x0: number; eps: number } {
  switch (prediction) {
    case 'epsilon':
      return { x0: (x - sb * m) / sa, eps: m };
    case 'v_prediction':
      return { x0: sa * x - sb * m, eps: sa * m + sb * x };
    case 'sample':
      return { x0: m, eps: (x - sa * m) / sb };
  }
}

/** How x̂₀ is held in range: dynamic thresholding (`thresholding`), clipping (`clip_sample`), or neither. */
export type X0Limit = { kind: 'threshold'; ratio: number; maxValue: number; batch: number } | { kind: 'clip'; range: number } | undefined;

/** The x̂₀ limit a config asks for; `clipDefault` is the scheduler's own default for `clip_sample`. */
export function x0Limit(cfg: SchedulerConfig, clipDefault: boolean, batch: number): X0Limit {
  if (cfg.thresholding) return { kind: 'threshold', ratio: cfg.dynamicThresholdingRatio ?? 0.995, maxValue: cfg.sampleMaxValue ?? 1, batch };
  if (cfg.clipSample ?? clipDefault) return { kind: 'clip', range: cfg.clipSampleRange ?? 1 };
  return undefined;
}

/** Applies a limit to x̂₀ in place. */
export function limitX0(x0: Float32Array, limit: X0Limit): void {
  if (limit?.kind === 'clip') {
    for (let i = 0; i < x0.length; i++) x0[i] = Math.min(limit.range, Math.max(-limit.range, x0[i] as number));
  } else if (limit?.kind === 'threshold') {
    dynamicThreshold(x0, limit.ratio, limit.maxValue, limit.batch);
  }
}

/**
 * diffusers' `_threshold_sample` (Imagen's dynamic thresholding), per image of the batch: s is the
 * `ratio` quantile of |x̂₀| (torch.quantile's linear interpolation), clamped to [1, maxValue] (min
 * first, then max, as torch.clamp does), and x̂₀ is clamped to [−s, s] and divided by s.
 */
export function dynamicThreshold(x0: Float32Array, ratio: number, maxValue: number, batch: number): void {
  const per = x0.length / batch;
  for (let b = 0; b < batch; b++) {
    const view = x0.subarray(b * per, (b + 1) * per);
    const sorted = Float32Array.from(view, Math.abs).sort();
    const pos = ratio * (per - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(per - 1, lo + 1);
    const q = (sorted[lo] as number) + (pos - lo) * ((sorted[hi] as number) - (sorted[lo] as number));
    const s = Math.min(Math.max(q, 1), maxValue);
    for (let i = 0; i < per; i++) view[i] = Math.min(s, Math.max(-s, view[i] as number)) / s;
  }
}
