/** Half-precision conversion (fp16 models take and give Uint16Array bit patterns) and the seeded noise source. */
import { describe, expect, it } from 'vitest';
import { floatsToHalf, fromHalfBits, halfToFloats, toHalfBits } from '../../src/runners/image/fp16.js';
import { Rng } from '../../src/runners/image/rng.js';

describe('fp16', () => {
  it('encodes known values (IEEE 754 binary16)', () => {
    expect(toHalfBits(1)).toBe(0x3c00);
    expect(toHalfBits(-2)).toBe(0xc000);
    expect(toHalfBits(0.1)).toBe(0x2e66);
    expect(toHalfBits(65504)).toBe(0x7bff); // largest finite half
    expect(toHalfBits(65520)).toBe(0x7c00); // rounds up past it: +inf
    expect(toHalfBits(-Infinity)).toBe(0xfc00);
    expect(toHalfBits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(toHalfBits(2 ** -26)).toBe(0x0000); // below half of it: zero
    expect(toHalfBits(-0)).toBe(0x8000);
    expect(toHalfBits(NaN) & 0x7c00).toBe(0x7c00);
    expect(toHalfBits(NaN) & 0x03ff).not.toBe(0);
  });

  it('rounds halfway cases to even', () => {
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00); // between 0x3c00 (even) and 0x3c01
    expect(toHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02); // between 0x3c01 and 0x3c02 (even)
    expect(toHalfBits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above halfway
  });

  it('round-trips every non-NaN half exactly', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const floats = halfToFloats(all);
    const back = floatsToHalf(floats);
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x03ff) !== 0;
      if (!isNaN && back[h] !== h) throw new Error(`0x${h.toString(16)} came back as 0x${(back[h] as number).toString(16)}`);
    }
    expect(fromHalfBits(0x3555)).toBeCloseTo(0.333251953125, 12);
    expect(fromHalfBits(0x0001)).toBe(2 ** -24);
  });
});

describe('Rng', () => {
  it('repeats for a seed and differs between seeds', () => {
    expect(Array.from(new Rng(42).normals(8))).toEqual(Array.from(new Rng(42).normals(8)));
    expect(Array.from(new Rng(42).normals(8))).not.toEqual(Array.from(new Rng(43).normals(8)));
  });

  it('draws standard normals', () => {
    const n = 200_000;
    const xs = new Rng(7).normals(n);
    let sum = 0;
    let sq = 0;
    for (const v of xs) {
      sum += v;
      sq += v * v;
    }
    const mean = sum / n;
    // 5 standard errors: a wrong generator misses these by far more.
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(sq / n - mean * mean - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
  });

  it('scales by the initial noise sigma', () => {
    const a = new Rng(3).normals(4);
    const b = new Rng(3).normals(4, 14.6);
    a.forEach((v, i) => expect(b[i]).toBeCloseTo(v * 14.6, 4));
  });
});
