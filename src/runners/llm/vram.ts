/**
 * VRAM estimates from the GGUF header (node-llama-cpp's GgufInsights), and fitting GPU layers into a budget.
 */
import type { GgufInsights } from 'node-llama-cpp';

export interface ContextShape {
  /** Tokens per sequence. */
  contextSize: number;
  sequences: number;
  /** LoRA adapters: each live adapter context and the adapters' weights (see adapters.ts). */
  adapters?: AdapterVramPlan;
}

export interface AdapterVramPlan {
  /** Adapter contexts that may be alive at once, each with `sequences` sequences of `contextSize` tokens. */
  contexts: number;
  sequences: number;
  /** Bytes of every configured adapter's weights (all stay loaded with the model once used). */
  weightBytes: number;
}

function contextVram(insights: GgufInsights, gpuLayers: number, contextSize: number, sequences: number): number {
  if (sequences <= 0) return 0;
  return insights.estimateContextResourceRequirements({
    // node-llama-cpp gives each sequence its own `contextSize` cells.
    contextSize: contextSize * sequences,
    sequences,
    modelGpuLayers: gpuLayers,
  }).gpuVram;
}

/** Estimated VRAM (bytes) of the model with `gpuLayers` offloaded plus its contexts (and adapters'). */
export function estimateChatVram(insights: GgufInsights, gpuLayers: number, shape: ContextShape): number {
  if (gpuLayers <= 0) return 0;
  const model = insights.estimateModelResourceRequirements({ gpuLayers });
  return model.gpuVram + contextVram(insights, gpuLayers, shape.contextSize, shape.sequences) + estimateAdapterVram(insights, gpuLayers, shape);
}

/**
 * What the adapters add: their contexts, and their weights in proportion to the layers offloaded
 * (llama.cpp puts each adapter tensor on its base weight's device).
 */
export function estimateAdapterVram(insights: GgufInsights, gpuLayers: number, shape: ContextShape): number {
  const adapters = shape.adapters;
  if (!adapters || gpuLayers <= 0) return 0;
  const share = Math.min(1, gpuLayers / Math.max(1, insights.totalLayers));
  return adapters.contexts * contextVram(insights, gpuLayers, shape.contextSize, adapters.sequences) + Math.ceil(adapters.weightBytes * share);
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
