/** The caption runner's settings, as the worker receives them (JSON from the main process). */
import { HearthError, type Json } from '../../engine/types.js';

export type CaptionProvider = 'cuda' | 'cpu';

export interface CaptionSettings {
  /** Model id as named in config (`caption`). */
  model: string;
  /** The transformers.js model folder (`models.caption.dir`). */
  dir: string;
  /** Execution providers in order of preference; `['cuda', 'cpu']` falls back to CPU when CUDA fails. */
  providers: CaptionProvider[];
  /** Token budget of a short caption or an answer. */
  maxNewTokens: number;
  /** Token budget of a detailed caption. */
  detailedMaxNewTokens: number;
  /** transformers.js cache folder, inside dataDir. */
  cacheDir: string;
  /** Largest image accepted, in encoded bytes. Default 25 MiB. */
  maxImageBytes?: number;
  /** Largest width × height accepted. Default 40 megapixels. */
  maxImagePixels?: number;
  /** Longest side the decoded image is scaled down to before the model's own resizing. Default 2048. */
  maxImageSide?: number;
  /** Longest question accepted, in characters. Default 1000. */
  maxQuestionChars?: number;
  /** ONNX Runtime threads per session on CPU. Default: ONNX Runtime's choice. */
  threads?: number;
}

export const CAPTION_DEFAULTS = {
  maxImageBytes: 25 * 1024 * 1024,
  maxImagePixels: 40_000_000,
  maxImageSide: 2048,
  maxQuestionChars: 1000,
} as const;

export const TOKEN_LIMITS = { min: 1, max: 1024 } as const;

function bad(key: string, expected: string, given: Json | undefined): HearthError {
  return new HearthError('INVALID_INPUT', `caption settings: ${key} must be ${expected}; got ${JSON.stringify(given ?? null)}`, {
    key,
    given: given ?? null,
  });
}

function intIn(obj: Record<string, Json>, key: string, min: number, max: number, optional: boolean): number | undefined {
  const v = obj[key];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw bad(key, `an integer between ${min} and ${max}`, v);
  }
  return v;
}

function str(obj: Record<string, Json>, key: string): string {
  const v = obj[key];
  if (typeof v !== 'string' || v === '') throw bad(key, 'a non-empty string', v);
  return v;
}

/** Validates settings. Throws HearthError INVALID_INPUT naming the key. */
export function parseCaptionSettings(json: Json): CaptionSettings {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new HearthError('INVALID_INPUT', 'caption settings must be an object', {});
  }
  const providersRaw = json['providers'] ?? ['cpu'];
  if (
    !Array.isArray(providersRaw) ||
    providersRaw.length === 0 ||
    !providersRaw.every((p): p is CaptionProvider => p === 'cuda' || p === 'cpu')
  ) {
    throw bad('providers', 'a non-empty list of "cuda" and "cpu"', providersRaw);
  }
  const optInt = <K extends string>(key: K, min: number, max: number): { [P in K]?: number } => {
    const v = intIn(json, key, min, max, true);
    return (v === undefined ? {} : { [key]: v }) as { [P in K]?: number };
  };
  return {
    model: str(json, 'model'),
    dir: str(json, 'dir'),
    providers: [...new Set(providersRaw)],
    maxNewTokens: intIn(json, 'maxNewTokens', TOKEN_LIMITS.min, TOKEN_LIMITS.max, false) ?? 0,
    detailedMaxNewTokens: intIn(json, 'detailedMaxNewTokens', TOKEN_LIMITS.min, TOKEN_LIMITS.max, false) ?? 0,
    cacheDir: str(json, 'cacheDir'),
    ...optInt('maxImageBytes', 1, 2 ** 31),
    ...optInt('maxImagePixels', 1, 2 ** 31),
    ...optInt('maxImageSide', 16, 16384),
    ...optInt('maxQuestionChars', 1, 100_000),
    ...optInt('threads', 1, 256),
  };
}
