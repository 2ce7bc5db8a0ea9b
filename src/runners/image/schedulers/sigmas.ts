import { linspace } from './config.js';

/** Karras et al. (2022) σ ramp with ρ = 7 from σ_max down to σ_min (diffusers' `_convert_to_karras`). */
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

/** A k-diffusion σ as the VP pair (α_t, σ_t) and its half log-SNR λ = log α − log σ (∞ at σ = 0). */
export function vp(sigma: number): { alpha: number; sigma: number; lambda: number } {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  const s = sigma * alpha;
  return { alpha, sigma: s, lambda: Math.log(alpha) - Math.log(s) };
}

/** diffusers' `add_noise` in the VP form at σ: √ᾱ·x₀ + √(1−ᾱ)·ε (DPM-Solver++ and UniPC start image-to-image with it). */
export function addNoiseAtSigma(original: Float32Array, noise: Float32Array, sigma: number): Float32Array {
  const { alpha, sigma: s } = vp(sigma);
  const out = new Float32Array(original.length);
  for (let i = 0; i < out.length; i++) out[i] = alpha * (original[i] as number) + s * (noise[i] as number);
  return out;
}
