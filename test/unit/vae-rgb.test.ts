import { describe, expect, it } from 'vitest';
import { floatsToHalf } from '../../src/runners/image/fp16.js';
import { vaeOutputToRgb, vaeOutputToRgbChecked } from '../../src/runners/image/vae-rgb.js';

/** A 2×1 image, planar [1, 3, 1, 2]: R = (-1, 1), G = (0, 0.5), B = (-0.2, 2). */
const PLANAR = Float32Array.of(-1, 1, 0, 0.5, -0.2, 2);

describe('vaeOutputToRgbChecked', () => {
  it('interleaves, scales, clamps and rounds half to even as diffusers does', () => {
    // 0 → 127.5 → 128 (half to even); 0.5 → 191.25 → 191; −0.2 → 102; 2 → clamped 255.
    expect([...vaeOutputToRgb(PLANAR, 2, 1)]).toEqual([0, 128, 102, 255, 191, 255]);
    expect(vaeOutputToRgbChecked(PLANAR, 2, 1).nonFinite).toBeUndefined();
  });

  it('reads fp16 output (bit patterns) to the same bytes', () => {
    const { rgb, nonFinite } = vaeOutputToRgbChecked(floatsToHalf(PLANAR), 2, 1);
    expect([...rgb]).toEqual([0, 128, 102, 255, 191, 255]);
    expect(nonFinite).toBeUndefined();
  });

  it('reports the first value that is not finite, in float32 and fp16', () => {
    expect(vaeOutputToRgbChecked(Float32Array.of(0, 0, Number.NaN, 0, Infinity, 0), 2, 1).nonFinite).toBeNaN();
    expect(vaeOutputToRgbChecked(Float32Array.of(0, 0, 0, 0, 0, -Infinity), 2, 1).nonFinite).toBe(-Infinity);
    expect(vaeOutputToRgbChecked(floatsToHalf(Float32Array.of(0, 1e6, 0, 0, 0, 0)), 2, 1).nonFinite).toBe(Infinity);
  });
});
