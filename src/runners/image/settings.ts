/** The image runner's settings, as the GPU worker receives them (JSON from the main process). */
import { HearthError, type Json } from '../../engine/types.js';
import { IMAGE_MODEL_KINDS, type ImageModelKind } from '../../jobs/image-model.js';
import { SCHEDULER_NAMES, type SchedulerChoice } from './schedulers/types.js';

export type ImageProvider = 'cuda' | 'cpu';

export interface ImageDefaults {
  /** Left out: the model's native size (unet/config.json), see imageModelRules. */
  width?: number;
  height?: number;
  steps: number;
  guidance: number;
  scheduler: SchedulerChoice;
  negativePrompt: string;
}

export interface ImageLimits {
  /** Smallest width or height, in pixels. */
  minSize: number;
  /** Largest width or height, in pixels. */
  maxSize: number;
  maxSteps: number;
  /** Longest prompt (and negative prompt), in characters. */
  maxPromptChars: number;
}

export interface ImageRunnerSettings {
  /** Model id as named in config (`image`). */
  model: string;
  /** A diffusers/optimum ONNX export folder. */
  dir: string;
  /** Execution providers in order of preference; `cuda` falls back to `cpu` (with a logged reason) when it can't run. */
  providers: ImageProvider[];
  defaults: ImageDefaults;
  limits: ImageLimits;
  /** Emit a latent preview every this many steps; 0 for none. */
  previewEvery: number;
  /** ONNX Runtime intra-op threads per session. Default: ONNX Runtime's choice. */
  threads?: number;
  /** Overrides the VRAM estimate (config `vramMB`). */
  vramMB?: number;
  /** `models.image.kind`: `turbo` or `standard` say what the model is; `auto` (the default) reads it from the folder. */
  kind?: ImageModelKind;
  /** Image-to-image: the largest init image, in bytes and in pixels (files.maxBytes, files.maxPixels). */
  maxImageBytes?: number;
  maxImagePixels?: number;
}

export const CHOICES: readonly SchedulerChoice[] = [...SCHEDULER_NAMES, 'default'];

function bad(key: string, expected: string, given: Json | undefined): HearthError {
  return new HearthError('INVALID_INPUT', `image settings: ${key} must be ${expected}; got ${JSON.stringify(given ?? null)}`, {
    key,
    expected,
    given: given ?? null,
  });
}

function obj(v: Json | undefined, key: string): Record<string, Json> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(key, 'an object', v);
  return v;
}

function num(o: Record<string, Json>, key: string, path: string, min: number, max: number, integer: boolean): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max) {
    throw bad(path, `${integer ? 'an integer' : 'a number'} between ${min} and ${max}`, v);
  }
  return v;
}

function str(o: Record<string, Json>, key: string, path: string, allowEmpty = false): string {
  const v = o[key];
  if (typeof v !== 'string' || (!allowEmpty && v === '')) throw bad(path, allowEmpty ? 'a string' : 'a non-empty string', v);
  return v;
}

/** Validates settings (the defaults against the limits too). Throws HearthError INVALID_INPUT naming the key. */
export function parseImageRunnerSettings(json: Json): ImageRunnerSettings {
  const o = obj(json, 'settings');
  const providers = o.providers ?? ['cuda', 'cpu'];
  if (!Array.isArray(providers) || providers.length === 0 || !providers.every((p): p is ImageProvider => p === 'cuda' || p === 'cpu')) {
    throw bad('providers', 'a non-empty list of "cuda" and "cpu"', providers);
  }
  const l = obj(o.limits, 'limits');
  const limits: ImageLimits = {
    minSize: num(l, 'minSize', 'limits.minSize', 8, 16384, true),
    maxSize: num(l, 'maxSize', 'limits.maxSize', 8, 16384, true),
    maxSteps: num(l, 'maxSteps', 'limits.maxSteps', 1, 1000, true),
    maxPromptChars: num(l, 'maxPromptChars', 'limits.maxPromptChars', 1, 1_000_000, true),
  };
  if (limits.minSize > limits.maxSize) throw bad('limits.minSize', `at most limits.maxSize (${limits.maxSize})`, limits.minSize);
  const d = obj(o.defaults, 'defaults');
  const scheduler = d.scheduler;
  if (typeof scheduler !== 'string' || !(CHOICES as readonly string[]).includes(scheduler)) {
    throw bad('defaults.scheduler', `one of ${CHOICES.join(', ')}`, scheduler);
  }
  const defaults: ImageDefaults = {
    ...(d.width !== undefined && d.width !== null ? { width: num(d, 'width', 'defaults.width', limits.minSize, limits.maxSize, true) } : {}),
    ...(d.height !== undefined && d.height !== null ? { height: num(d, 'height', 'defaults.height', limits.minSize, limits.maxSize, true) } : {}),
    steps: num(d, 'steps', 'defaults.steps', 1, limits.maxSteps, true),
    guidance: num(d, 'guidance', 'defaults.guidance', 0, 30, false),
    scheduler: scheduler as SchedulerChoice,
    negativePrompt: str(d, 'negativePrompt', 'defaults.negativePrompt', true),
  };
  for (const side of ['width', 'height'] as const) {
    const v = defaults[side];
    if (v !== undefined && v % 8 !== 0) throw bad(`defaults.${side}`, 'a multiple of 8', v);
  }
  const settings: ImageRunnerSettings = {
    model: str(o, 'model', 'model'),
    dir: str(o, 'dir', 'dir'),
    providers: [...new Set(providers)],
    defaults,
    limits,
    previewEvery: num(o, 'previewEvery', 'previewEvery', 0, 1000, true),
  };
  if (o.threads !== undefined && o.threads !== null) settings.threads = num(o, 'threads', 'threads', 1, 256, true);
  if (o.vramMB !== undefined && o.vramMB !== null) settings.vramMB = num(o, 'vramMB', 'vramMB', 0, 1_000_000, false);
  if (o.kind !== undefined && o.kind !== null) {
    if (typeof o.kind !== 'string' || !(IMAGE_MODEL_KINDS as readonly string[]).includes(o.kind)) throw bad('kind', `one of ${IMAGE_MODEL_KINDS.join(', ')}`, o.kind);
    settings.kind = o.kind as ImageModelKind;
  }
  if (o.maxImageBytes !== undefined && o.maxImageBytes !== null) settings.maxImageBytes = num(o, 'maxImageBytes', 'maxImageBytes', 1, 2 ** 40, true);
  if (o.maxImagePixels !== undefined && o.maxImagePixels !== null) settings.maxImagePixels = num(o, 'maxImagePixels', 'maxImagePixels', 1, 2 ** 40, true);
  return settings;
}
