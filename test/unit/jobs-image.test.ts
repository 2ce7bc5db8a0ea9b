import { describe, expect, it } from 'vitest';
import type { Json } from '../../src/engine/types.js';
import {
  buildImagePayload,
  DEFAULT_IMAGE_DEFAULTS,
  DEFAULT_IMAGE_LIMITS,
  GUIDANCE,
  imageOptionsFromJson,
  imageOptionsOf,
  parseImagePayload,
  SAMPLER_CHOICES,
  SEED,
  type ImageLimits,
  type ImagePayload,
} from '../../src/jobs/image.js';

const limits: ImageLimits = { minSize: 256, maxSize: 1024, maxSteps: 60, maxPromptChars: 100 };
const model = { limits, defaults: { ...DEFAULT_IMAGE_DEFAULTS } };
const full: ImagePayload = { prompt: 'a cat', negativePrompt: '', width: 512, height: 512, steps: 20, guidance: 7.5, seed: 7, scheduler: 'euler' };

const refusal = (json: Json) => {
  const r = parseImagePayload(json, { limits });
  if (r.ok) throw new Error(`expected a refusal for ${JSON.stringify(json)}`);
  return r.error;
};

describe('image job contract: parseImagePayload', () => {
  it('takes a complete payload as it is, and strips keys it does not know', () => {
    expect(parseImagePayload({ ...full, extra: 1 }, { limits })).toEqual({ ok: true, value: full });
  });

  it('holds every option to its bound, naming the option, what was given and what is allowed', () => {
    const cases: Array<[Partial<Record<keyof ImagePayload, Json>>, string, Json, Json, string]> = [
      [{ width: 500 }, 'width', 500, '256–1024, multiple of 8', 'width must be a multiple of 8 from 256 to 1024; got 500'],
      [{ width: 248 }, 'width', 248, '256–1024, multiple of 8', 'width must be a multiple of 8 from 256 to 1024; got 248'],
      [{ height: 1032 }, 'height', 1032, '256–1024, multiple of 8', 'height must be a multiple of 8 from 256 to 1024; got 1032'],
      [{ height: '512' }, 'height', '512', '256–1024, multiple of 8', 'height must be a multiple of 8 from 256 to 1024; got "512"'],
      [{ steps: 0 }, 'steps', 0, '1–60', 'steps must be a whole number from 1 to 60; got 0'],
      [{ steps: 61 }, 'steps', 61, '1–60', 'steps must be a whole number from 1 to 60; got 61'],
      [{ steps: 2.5 }, 'steps', 2.5, '1–60', 'steps must be a whole number from 1 to 60; got 2.5'],
      [{ guidance: -0.5 }, 'guidance', -0.5, '0–30', 'guidance must be from 0 to 30; got -0.5'],
      [{ guidance: 30.5 }, 'guidance', 30.5, '0–30', 'guidance must be from 0 to 30; got 30.5'],
      [{ seed: -1 }, 'seed', -1, '0–4294967295', 'seed must be a whole number from 0 to 4294967295; got -1'],
      [{ seed: 2 ** 32 }, 'seed', 2 ** 32, '0–4294967295', 'seed must be a whole number from 0 to 4294967295; got 4294967296'],
      [{ scheduler: 'heun' }, 'scheduler', 'heun', [...SAMPLER_CHOICES], `unknown scheduler "heun"; choose one of ${SAMPLER_CHOICES.join(', ')}`],
      [{ prompt: '  ' }, 'prompt', '  ', '1–100 characters', 'the prompt is empty; describe the image you want'],
    ];
    for (const [over, option, given, allowed, message] of cases) {
      const e = refusal({ ...full, ...over } as Json);
      expect(e).toEqual({ code: 'INVALID_INPUT', message, facts: { option, given, allowed } });
    }
  });

  it('accepts the edges of every bound', () => {
    const edges: Array<Partial<ImagePayload>> = [
      { width: 256, height: 1024 },
      { steps: 1 },
      { steps: 60 },
      { guidance: GUIDANCE.min },
      { guidance: GUIDANCE.max },
      { seed: SEED.min },
      { seed: SEED.max },
      { prompt: 'x'.repeat(100), negativePrompt: 'y'.repeat(100) },
      { prompt: '🐈'.repeat(100) }, // characters, not UTF-16 units
      ...SAMPLER_CHOICES.map((scheduler) => ({ scheduler })),
    ];
    for (const over of edges) expect(parseImagePayload({ ...full, ...over }, { limits }).ok).toBe(true);
  });

  it('refuses an over-long prompt or negative prompt with PROMPT_TOO_LONG and the lengths', () => {
    expect(refusal({ ...full, prompt: 'x'.repeat(101) })).toEqual({
      code: 'PROMPT_TOO_LONG',
      message: 'the prompt is 101 characters; the limit is 100',
      facts: { option: 'prompt', given: 101, allowed: 100 },
    });
    expect(refusal({ ...full, negativePrompt: 'y'.repeat(250) })).toEqual({
      code: 'PROMPT_TOO_LONG',
      message: 'the negative prompt is 250 characters; the limit is 100',
      facts: { option: 'negativePrompt', given: 250, allowed: 100 },
    });
  });

  it('says what a payload that is not one is', () => {
    expect(refusal('a cat').facts).toEqual({ option: 'payload', given: 'a cat', allowed: 'an object with a prompt' });
    expect(refusal({ width: 512 }).facts).toMatchObject({ option: 'prompt', given: null });
  });

  it('fills what is left out from the defaults, and draws a seed only when none is given', () => {
    let draws = 0;
    const randomSeed = () => (draws++, 99);
    const filled = parseImagePayload({ prompt: 'a cat', seed: null }, { limits, defaults: DEFAULT_IMAGE_DEFAULTS, randomSeed });
    expect(filled).toEqual({ ok: true, value: { ...DEFAULT_IMAGE_DEFAULTS, prompt: 'a cat', seed: 99 } });
    expect(parseImagePayload({ prompt: 'a cat', seed: 3 }, { limits, defaults: DEFAULT_IMAGE_DEFAULTS, randomSeed }).ok).toBe(true);
    expect(draws).toBe(1);
    // Without defaults every option must be there.
    expect(parseImagePayload({ prompt: 'a cat' }, { limits }).ok).toBe(false);
  });
});

describe('image job contract: building and reading', () => {
  it('builds the payload of an /imagine: prompt trimmed, defaults, a seed, every limit checked', () => {
    const built = buildImagePayload({ prompt: '  a fox  ', steps: 12 }, model, () => 5);
    expect(built).toEqual({ ok: true, value: { ...DEFAULT_IMAGE_DEFAULTS, prompt: 'a fox', steps: 12, seed: 5 } });
    const negative = buildImagePayload({ prompt: 'a fox', negativePrompt: 'n'.repeat(101) }, model);
    expect(negative).toMatchObject({ ok: false, error: { code: 'PROMPT_TOO_LONG', facts: { option: 'negativePrompt', given: 101, allowed: 100 } } });
  });

  it('uses the default limits when none are given', () => {
    expect(DEFAULT_IMAGE_LIMITS).toEqual({ minSize: 256, maxSize: 1024, maxSteps: 60, maxPromptChars: 1000 });
    expect(parseImagePayload({ ...full, width: 1032 }).ok).toBe(false);
  });

  it('reads the options of a stored image job for the views, whatever limits it was queued under', () => {
    const wide = { ...full, width: 2048, steps: 150 };
    expect(imageOptionsOf({ kind: 'image', payload: wide })).toEqual(wide);
    expect(imageOptionsOf({ kind: 'chat', payload: wide })).toBeUndefined();
    expect(imageOptionsOf({ kind: 'image', payload: { prompt: 'no options' } })).toBeUndefined();
  });

  it('reads a form: numbers as text, empty options left out, values of the wrong kind refused', () => {
    expect(imageOptionsFromJson({ prompt: 'a cat', steps: '12', width: '', seed: null, negativePrompt: '  ', scheduler: 'ddim' })).toEqual({
      ok: true,
      value: { prompt: 'a cat', steps: 12, scheduler: 'ddim' },
    });
    expect(imageOptionsFromJson({ prompt: 'a cat', width: 'wide' })).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', facts: { option: 'width', given: 'wide' } } });
    expect(imageOptionsFromJson({ prompt: 'a cat', scheduler: 3 })).toMatchObject({ ok: false, error: { facts: { option: 'scheduler', given: 3 } } });
    expect(imageOptionsFromJson({ prompt: 5 })).toMatchObject({ ok: false, error: { facts: { option: 'prompt', given: 5 } } });
  });
});
