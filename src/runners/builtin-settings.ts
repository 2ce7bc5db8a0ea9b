/**
 * What the built-in runner module ({@link builtinRunnerModule}) is given, owned here with the runners
 * so they import nothing from the app, the bots, the commands or the worker. The main process builds
 * it from the config (src/worker/gpu-worker.ts): that assignment is where the compiler checks that the
 * config still carries what the runners read.
 */

import type { SamplerChoice } from '../jobs/image.js';

/** `models.chat` as the chat runner reads it. */
export interface BuiltinChatSettings {
  path: string;
  threads: number | 'auto';
  parallel: number;
  contextSize: number;
  maxTokens: number;
  temperature: number;
  topP: number;
  repeatPenalty: number;
  gpu: 'auto' | 'cuda' | 'vulkan' | 'cpu';
  gpuLayers: number | 'auto';
  tokensPerStep: number;
  promptTokensPerStep: number;
  maxStepMs?: number | undefined;
  cacheConversations?: number | undefined;
  draft?: { path: string; maxTokens: number; minTokens: number; minConfidence: number } | undefined;
  adapters?: Record<string, { path: string; scale: number }> | undefined;
  adapterContexts?: number | undefined;
  /** Overrides the runner's VRAM estimate. `undefined` as the config's optional keys carry it. */
  vramMB?: number | undefined;
}

/** `models.image` as the image runner reads it. */
export interface BuiltinImageSettings {
  dir: string;
  providers: ('cuda' | 'cpu')[];
  defaults: {
    /** Left out: the model's native size. */
    width?: number | undefined;
    height?: number | undefined;
    steps: number;
    guidance: number;
    scheduler: SamplerChoice;
    negativePrompt: string;
  };
  limits: { minSize: number; maxSize: number; maxSteps: number; maxPromptChars: number };
  previewEvery: number;
  kind: 'auto' | 'standard' | 'turbo';
  vramMB?: number | undefined;
}

/** `models.caption` as the caption runner reads it. */
export interface BuiltinCaptionSettings {
  dir: string;
  providers: ('cuda' | 'cpu')[];
  maxNewTokens: number;
  detailedMaxNewTokens: number;
  vramMB?: number | undefined;
}

/** `models.embedding` as the embedding runner reads it. */
export interface BuiltinEmbeddingSettings {
  dir: string;
  providers: ('cuda' | 'cpu')[];
  vramMB?: number | undefined;
}

/** What the GPU worker's built-in runner factory is given (as JSON, across the process boundary). */
export interface BuiltinRunnerSettings {
  dataDir: string;
  vramBudgetBytes: number;
  /** One entry per configured model; a model left out gets no runner. */
  models: {
    chat?: BuiltinChatSettings | undefined;
    image?: BuiltinImageSettings | undefined;
    caption?: BuiltinCaptionSettings | undefined;
    embedding?: BuiltinEmbeddingSettings | undefined;
  };
  /** files.maxBytes and files.maxPixels: the caption runner checks images against them again. */
  maxBytes: number;
  maxPixels: number;
}

/**
 * The built-in runner module (chat, image, caption) for the worker to import, found next to this
 * file so it holds in both layouts: `.ts` from src/ under tsx and vitest, `.js` from dist/ once built.
 */
export function builtinRunnerModule(): string {
  const ts = import.meta.url.endsWith('.ts');
  return new URL(`./builtin.${ts ? 'ts' : 'js'}`, import.meta.url).href;
}
