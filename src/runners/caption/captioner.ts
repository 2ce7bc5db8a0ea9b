/**
 * What one caption model family does for the runner: turn an image (and perhaps a question) into
 * text through transformers.js, stopping early when asked.
 */
import { InterruptableStoppingCriteria, type RawImage } from '@huggingface/transformers';
import type { CaptionFamily, OnnxDtype } from './model-folder.js';

import type { CaptionDetail } from '../../jobs/caption.js';

export type { CaptionDetail };

export interface CaptionRequest {
  question?: string;
  detail: CaptionDetail;
  maxNewTokens: number;
}

export interface CaptionHooks {
  /** Aborting stops generation before the next token. */
  signal?: AbortSignal;
  /** Streams decoded text as it forms. */
  onText?: (text: string) => void;
}

export interface CaptionOutput {
  text: string;
  /** Tokens generated. */
  tokens: number;
  /** Tokens the model read before generating (prompt and image tokens). */
  promptTokens: number;
  /** Generation ran to `maxNewTokens` without ending by itself. */
  hitTokenLimit: boolean;
  /** Generation was stopped by the signal. */
  interrupted: boolean;
}

export interface CaptionerLoadOptions {
  /** Absolute path of the model folder. */
  dir: string;
  device: 'cpu' | 'cuda';
  /** Precision of each session file, by session name. */
  dtype: Record<string, OnnxDtype>;
  /** Threads for one ONNX session on CPU; unset = ONNX Runtime's default. */
  threads?: number;
}

export interface Captioner {
  readonly family: CaptionFamily;
  /** Whether `question` is understood (else the runner refuses it). */
  readonly acceptsQuestions: boolean;
  caption(image: RawImage, request: CaptionRequest, hooks?: CaptionHooks): Promise<CaptionOutput>;
  dispose(): Promise<void>;
}

/** The transformers.js loading options both families share: local files only, this device and precision. */
export function pretrainedOptions(opts: CaptionerLoadOptions): {
  device: 'cpu' | 'cuda';
  dtype: Record<string, OnnxDtype>;
  local_files_only: true;
  session_options: Record<string, number>;
} {
  return {
    device: opts.device,
    dtype: opts.dtype,
    local_files_only: true,
    session_options: opts.threads !== undefined ? { intraOpNumThreads: opts.threads } : {},
  };
}

/**
 * A stopping criterion that trips when `signal` aborts, so generation ends at the next token
 * instead of running to its limit. `release` removes the listener.
 */
export function interruptOn(signal: AbortSignal | undefined): {
  criteria: InterruptableStoppingCriteria;
  release: () => void;
} {
  const criteria = new InterruptableStoppingCriteria();
  if (!signal) return { criteria, release: () => undefined };
  const onAbort = (): void => criteria.interrupt();
  if (signal.aborted) criteria.interrupt();
  else signal.addEventListener('abort', onAbort, { once: true });
  return { criteria, release: () => signal.removeEventListener('abort', onAbort) };
}
