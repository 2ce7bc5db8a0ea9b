/**
 * The chat runner's settings (from `models.chat.*`) and their checks.
 */
import { HearthError, type Json } from '../../engine/types.js';
import type { AdapterSettings } from './adapters.js';
import type { DraftSettings } from './draft.js';
import type { ChatGpu } from './llama-instance.js';
import { SAMPLING_RANGES } from './prompt-fit.js';

/** Settings of one chat model (from `models.chat.*`). */
export interface ChatRunnerSettings {
  /** Model id the engine routes jobs by, e.g. `chat`. */
  model: string;
  /** Path of the .gguf file. */
  path: string;
  threads: number | 'auto';
  /** Sequences in the context: how many chats decode together. */
  parallel: number;
  /** Tokens per sequence (prompt + answer). */
  contextSize: number;
  /** Default and largest answer length in tokens. */
  maxTokens: number;
  temperature: number;
  topP: number;
  repeatPenalty: number;
  gpu: ChatGpu;
  gpuLayers: number | 'auto';
  /** Tokens each job decodes per engine step. */
  tokensPerStep: number;
  /** Prompt tokens one step evaluates, over all its jobs (a longer prompt takes several steps). Default 512. */
  promptTokensPerStep?: number;
  /** Target length of a step that evaluates prompt tokens, in ms: chunks are sized from measured speed. Default 250. */
  maxStepMs?: number;
  /** Conversations whose evaluated tokens idle sequences keep (0 = none). Default `parallel`; more adds sequences. */
  cacheConversations?: number;
  /** A draft model for speculative decoding (same tokenizer); off when unset. */
  draft?: DraftSettings;
  /** LoRA adapters by name (`models.chat.adapters`); a job's payload names the one it wants. */
  adapters?: Record<string, AdapterSettings>;
  /** Adapter contexts alive at once (each as many sequences as `parallel`). Default: one per adapter, at most 4. */
  adapterContexts?: number;
  /** VRAM the model and its context may take; `gpuLayers: 'auto'` fits into it. */
  vramBudgetBytes?: number;
}

/** Default of {@link ChatRunnerSettings.promptTokensPerStep}: llama.cpp's default batch. */
export const DEFAULT_PROMPT_TOKENS_PER_STEP = 512;

export function checkSettings(s: ChatRunnerSettings): void {
  const fail = (field: string, rule: string, given: Json): never => {
    throw new HearthError('INVALID_INPUT', `models.chat.${field} must be ${rule}; got ${JSON.stringify(given)}`, { field, given });
  };
  const int = (v: number, min: number, max: number): boolean => Number.isInteger(v) && v >= min && v <= max;
  if (!int(s.parallel, 1, 64)) fail('parallel', 'an integer between 1 and 64', s.parallel);
  if (!int(s.contextSize, 64, 1 << 20)) fail('contextSize', `an integer between 64 and ${1 << 20}`, s.contextSize);
  if (!int(s.maxTokens, 1, s.contextSize - 1)) fail('maxTokens', `an integer between 1 and ${s.contextSize - 1} (contextSize - 1)`, s.maxTokens);
  if (!int(s.tokensPerStep, 1, 4096)) fail('tokensPerStep', 'an integer between 1 and 4096', s.tokensPerStep);
  if (s.promptTokensPerStep !== undefined && !int(s.promptTokensPerStep, 1, 1 << 20))
    fail('promptTokensPerStep', `an integer between 1 and ${1 << 20}`, s.promptTokensPerStep);
  if (s.maxStepMs !== undefined && !(Number.isFinite(s.maxStepMs) && s.maxStepMs >= 1 && s.maxStepMs <= 60_000))
    fail('maxStepMs', 'a number of milliseconds between 1 and 60000', s.maxStepMs);
  if (s.cacheConversations !== undefined && !int(s.cacheConversations, 0, 256))
    fail('cacheConversations', 'an integer between 0 and 256', s.cacheConversations);
  if (s.threads !== 'auto' && !int(s.threads, 1, 1024)) fail('threads', '"auto" or an integer between 1 and 1024', s.threads);
  if (s.gpuLayers !== 'auto' && !int(s.gpuLayers, 0, 100_000)) fail('gpuLayers', '"auto" or a non-negative integer', s.gpuLayers);
  for (const key of ['temperature', 'topP', 'repeatPenalty'] as const) {
    const { min, max } = SAMPLING_RANGES[key];
    if (!(s[key] >= min && s[key] <= max)) fail(key, `a number between ${min} and ${max}`, s[key]);
  }
  if (s.draft?.maxTokens !== undefined && !int(s.draft.maxTokens, 1, 64)) fail('draft.maxTokens', 'an integer between 1 and 64', s.draft.maxTokens);
  const confidence = s.draft?.minConfidence;
  if (confidence !== undefined && !(confidence >= 0 && confidence <= 1)) fail('draft.minConfidence', 'a number between 0 and 1', confidence);
  for (const [name, adapter] of Object.entries(s.adapters ?? {})) {
    if (!/^[\w.-]{1,64}$/.test(name)) fail('adapters', 'named with 1–64 letters, digits, _ . or -', name);
    if (!(Number.isFinite(adapter.scale) && adapter.scale >= -10 && adapter.scale <= 10)) fail(`adapters.${name}.scale`, 'a number between -10 and 10', adapter.scale);
  }
  if (s.adapterContexts !== undefined && !int(s.adapterContexts, 1, 64)) fail('adapterContexts', 'an integer between 1 and 64', s.adapterContexts);
  if (s.vramBudgetBytes !== undefined && !(s.vramBudgetBytes >= 0)) fail('vramBudgetBytes', 'a non-negative number', s.vramBudgetBytes);
}

