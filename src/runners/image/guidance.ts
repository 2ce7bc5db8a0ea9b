/** Classifier-free guidance, with no sharp or ONNX Runtime import, so the worker thread applies it to the UNet's output in place. */
import { halfTable } from './fp16.js';

/**
 * Classifier-free guidance: uncond + g·(cond − uncond), from the [uncond; cond] batch (float32, or
 * fp16 bit patterns as ONNX Runtime returns them). Returns a fresh float32 array of half the length.
 */
export function guide(batch: Float32Array | Uint16Array, guidance: number): Float32Array {
  const n = batch.length / 2;
  const out = new Float32Array(n);
  if (batch instanceof Uint16Array) {
    const half = halfTable();
    for (let i = 0; i < n; i++) {
      const u = half[batch[i] as number] as number;
      out[i] = u + guidance * ((half[batch[n + i] as number] as number) - u);
    }
    return out;
  }
  for (let i = 0; i < n; i++) {
    const u = batch[i] as number;
    out[i] = u + guidance * ((batch[n + i] as number) - u);
  }
  return out;
}
