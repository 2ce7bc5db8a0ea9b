/** An /imagine payload, checked against the model's limits and filled from its defaults. */
import { HearthError, type Json } from '../../engine/types.js';
import { CHOICES, type ImageRunnerSettings } from './settings.js';
import type { SchedulerChoice } from './schedulers/types.js';

/** What the command sends: everything but the prompt is optional. */
export interface ImagePayload {
  prompt: string;
  negativePrompt?: string;
  width?: number;
  height?: number;
  steps?: number;
  guidance?: number;
  seed?: number;
  scheduler?: SchedulerChoice;
}

/** A payload with every option decided. */
export interface ImageRequest {
  prompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  steps: number;
  guidance: number;
  seed: number;
  scheduler: SchedulerChoice;
}

export const GUIDANCE = { min: 0, max: 30 } as const;
export const SEED = { min: 0, max: 2 ** 32 - 1 } as const;

function invalid(field: string, message: string, given: Json, allowed: Json, extra: Record<string, Json> = {}): HearthError {
  return new HearthError('INVALID_INPUT', message, { field, given, allowed, ...extra });
}

function given(v: unknown): Json {
  if (v === undefined) return null;
  if (typeof v === 'string' && v.length > 200) return `${v.slice(0, 197)}...`;
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null ? v : JSON.stringify(v) ?? null;
}

/**
 * Validates a payload. Throws HearthError (INVALID_INPUT, or PROMPT_TOO_LONG for an over-long prompt)
 * whose message says what was expected and what was given, and whose facts carry `field`, `given`
 * and `allowed`. `randomSeed` is called only when the payload has no seed.
 */
export function validateImagePayload(payload: Json, settings: ImageRunnerSettings, randomSeed: () => number): ImageRequest {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw invalid('payload', `an image job needs an object with a prompt; got ${JSON.stringify(payload)}`, given(payload), 'an object');
  }
  const p = payload;
  const { limits, defaults } = settings;

  const text = (field: 'prompt' | 'negativePrompt', fallback: string | undefined): string => {
    const v = p[field] ?? fallback;
    if (typeof v !== 'string') {
      throw invalid(field, `${field} must be text; got ${JSON.stringify(v ?? null)}`, given(v), 'text');
    }
    if (field === 'prompt' && v.trim() === '') throw invalid(field, 'prompt must not be empty', v, 'non-empty text');
    const chars = [...v].length;
    if (chars > limits.maxPromptChars) {
      throw new HearthError('PROMPT_TOO_LONG', `${field} must be at most ${limits.maxPromptChars} characters; got ${chars}`, {
        field,
        given: chars,
        max: limits.maxPromptChars,
        allowed: `at most ${limits.maxPromptChars} characters`,
      });
    }
    return v;
  };

  const size = (field: 'width' | 'height'): number => {
    const v = p[field] ?? defaults[field];
    const allowed = `a multiple of 8 between ${limits.minSize} and ${limits.maxSize}`;
    const facts = { min: limits.minSize, max: limits.maxSize, multipleOf: 8 };
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      throw invalid(field, `${field} must be a whole number of pixels (${allowed}); got ${JSON.stringify(v)}`, given(v), allowed, facts);
    }
    if (v < limits.minSize || v > limits.maxSize) {
      throw invalid(field, `${field} must be between ${limits.minSize} and ${limits.maxSize}; got ${v}`, v, allowed, facts);
    }
    // Stable Diffusion works on latents an eighth of the image size.
    if (v % 8 !== 0) throw invalid(field, `${field} must be a multiple of 8; got ${v}`, v, allowed, facts);
    return v;
  };

  const prompt = text('prompt', undefined);
  const negativePrompt = text('negativePrompt', defaults.negativePrompt);
  const width = size('width');
  const height = size('height');

  const steps = p.steps ?? defaults.steps;
  if (typeof steps !== 'number' || !Number.isInteger(steps) || steps < 1 || steps > limits.maxSteps) {
    throw invalid('steps', `steps must be a whole number between 1 and ${limits.maxSteps}; got ${JSON.stringify(steps)}`, given(steps), `1..${limits.maxSteps}`, {
      min: 1,
      max: limits.maxSteps,
    });
  }

  const guidance = p.guidance ?? defaults.guidance;
  if (typeof guidance !== 'number' || !Number.isFinite(guidance) || guidance < GUIDANCE.min || guidance > GUIDANCE.max) {
    throw invalid('guidance', `guidance must be a number between ${GUIDANCE.min} and ${GUIDANCE.max}; got ${JSON.stringify(guidance)}`, given(guidance), `${GUIDANCE.min}..${GUIDANCE.max}`, {
      min: GUIDANCE.min,
      max: GUIDANCE.max,
    });
  }

  const scheduler = p.scheduler ?? defaults.scheduler;
  if (typeof scheduler !== 'string' || !(CHOICES as readonly string[]).includes(scheduler)) {
    throw invalid('scheduler', `scheduler must be one of ${CHOICES.join(', ')}; got ${JSON.stringify(scheduler)}`, given(scheduler), [...CHOICES]);
  }

  let seed = p.seed;
  if (seed === undefined || seed === null) seed = randomSeed();
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < SEED.min || seed > SEED.max) {
    throw invalid('seed', `seed must be a whole number between ${SEED.min} and ${SEED.max}; got ${JSON.stringify(seed)}`, given(seed), `${SEED.min}..${SEED.max}`, {
      min: SEED.min,
      max: SEED.max,
    });
  }

  return {
    prompt,
    negativePrompt,
    width,
    height,
    steps,
    guidance,
    seed,
    scheduler: scheduler as SchedulerChoice,
  };
}
