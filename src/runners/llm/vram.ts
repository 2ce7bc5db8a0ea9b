/**
 * VRAM estimates from the GGUF header (node-llama-cpp's GgufInsights), and fitting GPU layers into a budget.
 */
import type { GgufInsights } from 'node-llama-cpp';

export interface ContextShape {
  /** Tokens per sequence. */
  contextSize: number;
  sequences: number;
}

/** Estimated VRAM (bytes) of the model with `gpuLayers` offloaded plus its context. */
export function estimateChatVram(insights: GgufInsights, gpuLayers: number, shape: ContextShape): number {
  if (gpuLayers <= 0) return 0;
  const model = insights.estimateModelResourceRequirements({ gpuLayers });
  const context = insights.estimateContextResourceRequirements({
    // node-llama-cpp gives each sequence its own `contextSize` cells.
    contextSize: shape.contextSize * shape.sequences,
    sequences: shape.sequences,
    modelGpuLayers: gpuLayers,
  });
  return model.gpuVram + context.gpuVram;
}

/** The most layers (0..totalLayers) whose estimate fits `budgetBytes`. */
export function fitGpuLayers(insights: GgufInsights, budgetBytes: number, shape: ContextShape): number {
  let lo = 0;
  let hi = insights.totalLayers;
  // More layers never take less memory, so bisect for the last count that fits.
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (estimateChatVram(insights, mid, shape) <= budgetBytes) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
