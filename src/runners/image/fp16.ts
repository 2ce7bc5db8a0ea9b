/**
 * IEEE half-precision conversion. ONNX Runtime for Node takes and returns fp16 tensors as
 * Uint16Array bit patterns (Node 20 has no Float16Array), so fp16 models need both directions.
 * Rounding follows numpy's npy_floatbits_to_halfbits (round half to even, overflow to inf).
 */

let halfValues: Float32Array | undefined;

/** Every half bit pattern's float value: 256 KiB, built once; a lookup beats bit twiddling per element. */
export function halfTable(): Float32Array {
  if (halfValues) return halfValues;
  const bits = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) bits[h] = halfBitsToFloatBits(h);
  halfValues = new Float32Array(bits.buffer);
  return halfValues;
}

function halfBitsToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  let exp = h & 0x7c00;
  let sig = h & 0x03ff;
  if (exp === 0) {
    if (sig === 0) return sign >>> 0;
    // Subnormal half: normalise into a float's implicit leading one.
    sig <<= 1;
    while ((sig & 0x0400) === 0) {
      sig <<= 1;
      exp++;
    }
    return (sign | ((127 - 15 - exp) << 23) | ((sig & 0x03ff) << 13)) >>> 0;
  }
  if (exp === 0x7c00) return (sign | 0x7f800000 | (sig << 13)) >>> 0;
  return (sign | (((h & 0x7fff) + 0x1c000) << 13)) >>> 0;
}

function floatBitsToHalfBits(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const exp = f & 0x7f800000;
  if (exp >= 0x47800000) {
    if (exp === 0x7f800000) {
      const sig = f & 0x007fffff;
      if (sig !== 0) {
        // NaN: keep the top payload bits, and never turn a NaN into an infinity.
        const ret = 0x7c00 + (sig >>> 13);
        return sign + (ret === 0x7c00 ? ret + 1 : ret);
      }
    }
    return sign + 0x7c00;
  }
  if (exp <= 0x38000000) {
    if (exp < 0x33000000) return sign;
    const e = exp >>> 23;
    let sig = (0x00800000 + (f & 0x007fffff)) >>> (113 - e);
    if ((sig & 0x00003fff) !== 0x00001000 || (f & 0x000007ff) !== 0) sig += 0x00001000;
    return sign + (sig >>> 13);
  }
  const hExp = (exp - 0x38000000) >>> 13;
  let sig = f & 0x007fffff;
  if ((sig & 0x00003fff) !== 0x00001000) sig += 0x00001000;
  return sign + ((sig >>> 13) + hExp);
}

/** float32 values to fp16 bit patterns. */
export function floatsToHalf(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = floatBitsToHalfBits(bits[i] as number);
  return out;
}

/** fp16 bit patterns to float32 values. */
export function halfToFloats(src: Uint16Array): Float32Array {
  const t = halfTable();
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = t[src[i] as number] as number;
  return out;
}

/** One value each way, for tests and scalars. */
export function toHalfBits(value: number): number {
  return floatBitsToHalfBits(new Uint32Array(new Float32Array([value]).buffer)[0] as number);
}
export function fromHalfBits(bits: number): number {
  return halfTable()[bits & 0xffff] as number;
}
