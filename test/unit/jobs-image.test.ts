import { describe, expect, it } from 'vitest';
import type { Json } from '../../src/engine/types.js';
import {
  buildImagePayload,
  DEFAULT_IMAGE_DEFAULTS,
  DEFAULT_IMAGE_STRENGTH,
  denoisingSteps,
  imageJobSteps,
  imageVariationPayload,
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

describe('image job contract: image-to-image', () => {
  const b64 = Buffer.from('\x89PNG fake bytes').toString('base64');
  const img2img: ImagePayload = { ...full, initImageBase64: b64, strength: 0.6 };

  it('takes an init image with a strength, and a variationOf with them', () => {
    expect(parseImagePayload({ ...img2img }, { limits })).toEqual({ ok: true, value: img2img });
    expect(parseImagePayload({ ...img2img, variationOf: 'job-7' }, { limits })).toEqual({ ok: true, value: { ...img2img, variationOf: 'job-7' } });
    // Whitespace in base64 (wrapped lines) is removed, as for a caption's image.
    const wrapped = parseImagePayload({ ...img2img, initImageBase64: `${b64.slice(0, 4)}\n${b64.slice(4)}` }, { limits });
    expect(wrapped).toEqual({ ok: true, value: img2img });
    for (const strength of [0, 1, 0.35]) expect(parseImagePayload({ ...img2img, strength }, { limits }).ok).toBe(true);
  });

  it('refuses a strength or a variationOf without an image, an image without a strength, and values out of bounds', () => {
    const strengthAllowed = '0–1, with an init image';
    expect(refusal({ ...full, strength: 0.5 })).toEqual({
      code: 'INVALID_INPUT',
      message: 'strength is for image-to-image: attach an image, or leave strength out; got strength 0.5 and no image',
      facts: { option: 'strength', given: 0.5, allowed: strengthAllowed },
    });
    expect(refusal({ ...full, initImageBase64: b64 })).toEqual({
      code: 'INVALID_INPUT',
      message: 'image-to-image needs a strength from 0 to 1 (how far from the image to go); got nothing',
      facts: { option: 'strength', given: null, allowed: strengthAllowed },
    });
    expect(refusal({ ...full, variationOf: 'job-7' }).facts).toEqual({ option: 'variationOf', given: 'job-7', allowed: 'a job id of 1–200 characters, with an init image' });
    const cases: Array<[Record<string, Json>, string, Json, string]> = [
      [{ strength: 1.5 }, 'strength', 1.5, 'strength must be from 0 to 1; got 1.5'],
      [{ strength: -0.1 }, 'strength', -0.1, 'strength must be from 0 to 1; got -0.1'],
      [{ strength: '0.5' }, 'strength', '0.5', 'strength must be from 0 to 1; got "0.5"'],
      [{ initImageBase64: 'not base64!' }, 'initImageBase64', 'not base64!', 'initImageBase64 is not base64 text of an image'],
      [{ initImageBase64: '' }, 'initImageBase64', '', 'initImageBase64 is not base64 text of an image'],
      [{ initImageBase64: 5 }, 'initImageBase64', 5, 'initImageBase64 must be base64 text; got 5'],
      [{ variationOf: 'x'.repeat(201) }, 'variationOf', `${'x'.repeat(199)}…`, `variationOf must be a job id of 1–200 characters; got "${'x'.repeat(40)}…"`],
    ];
    for (const [over, option, given, message] of cases) {
      expect(refusal({ ...img2img, ...over } as Json)).toMatchObject({ code: 'INVALID_INPUT', message, facts: { option, given } });
    }
  });

  it('fills a default strength only for an image that came without one', () => {
    const built = buildImagePayload({ prompt: 'a fox', initImageBase64: b64 }, model, () => 5);
    expect(built).toEqual({ ok: true, value: { ...DEFAULT_IMAGE_DEFAULTS, prompt: 'a fox', seed: 5, initImageBase64: b64, strength: DEFAULT_IMAGE_STRENGTH } });
    expect(buildImagePayload({ prompt: 'a fox', initImageBase64: b64, strength: 0.2 }, model, () => 5)).toMatchObject({ ok: true, value: { strength: 0.2 } });
    expect(buildImagePayload({ prompt: 'a fox', initImageBase64: b64 }, { limits, defaults: { ...DEFAULT_IMAGE_DEFAULTS, strength: 0.8 } }, () => 5)).toMatchObject({ ok: true, value: { strength: 0.8 } });
    // Text-to-image stays text-to-image: the default strength does not make a job image-to-image.
    const t2i = buildImagePayload({ prompt: 'a fox' }, { limits, defaults: { ...DEFAULT_IMAGE_DEFAULTS, strength: 0.8 } }, () => 5);
    expect(t2i.ok && t2i.value).not.toHaveProperty('strength');
    expect(buildImagePayload({ prompt: 'a fox', strength: 0.3 }, model, () => 5)).toMatchObject({ ok: false, error: { facts: { option: 'strength', given: 0.3 } } });
  });

  it('counts the steps as diffusers does: int(steps × strength), plus encoding the image', () => {
    expect(denoisingSteps({ steps: 25 })).toBe(25);
    expect(denoisingSteps({ steps: 25, strength: 0.6 })).toBe(15);
    expect(denoisingSteps({ steps: 10, strength: 0.75 })).toBe(7);
    expect(denoisingSteps({ steps: 3, strength: 0.1 })).toBe(0);
    expect(denoisingSteps({ steps: 20, strength: 1 })).toBe(20);
    expect(imageJobSteps({ steps: 20 })).toBe(22);
    expect(imageJobSteps({ steps: 20, strength: 0.5 })).toBe(13);
    expect(imageJobSteps({ steps: 20, strength: 0.5 })).toBeLessThan(imageJobSteps({ steps: 20 }));
  });

  it('reads back an ended image-to-image job whose image the store dropped', () => {
    const { initImageBase64: _dropped, ...ended } = { ...img2img, variationOf: 'job-7' };
    expect(imageOptionsOf({ kind: 'image', payload: ended })).toEqual(ended);
    // Still refused where it is queued.
    expect(parseImagePayload(ended, { limits }).ok).toBe(false);
  });

  it('builds a Vary from the source job: its options, the result as the init image, a strength and a new seed', () => {
    const png = Buffer.from('result png').toString('base64');
    const v = imageVariationPayload({ ...img2img, variationOf: 'older' }, { pngBase64: png, strength: 0.45, seed: 11, variationOf: 'job-7' });
    expect(v).toEqual({ ok: true, value: { ...full, seed: 11, initImageBase64: png, strength: 0.45, variationOf: 'job-7' } });
    expect(imageVariationPayload(full, { pngBase64: png, strength: 2, seed: 1 })).toMatchObject({ ok: false, error: { facts: { option: 'strength', given: 2 } } });
    expect(imageVariationPayload(full, { pngBase64: png, strength: 0.5, seed: 1 }, limits)).toMatchObject({ ok: true, value: { width: 512 } });
    expect(imageVariationPayload({ ...full, width: 2048 }, { pngBase64: png, strength: 0.5, seed: 1 }, limits)).toMatchObject({ ok: false, error: { facts: { option: 'width' } } });
  });

  it('reads strength and the image from a form', () => {
    expect(imageOptionsFromJson({ prompt: 'a cat', strength: '0.4', initImageBase64: b64, variationOf: '' })).toEqual({
      ok: true,
      value: { prompt: 'a cat', strength: 0.4, initImageBase64: b64 },
    });
    expect(imageOptionsFromJson({ prompt: 'a cat', strength: 'lots' })).toMatchObject({ ok: false, error: { facts: { option: 'strength', given: 'lots' } } });
    expect(imageOptionsFromJson({ prompt: 'a cat', initImageBase64: 3 })).toMatchObject({ ok: false, error: { facts: { option: 'initImageBase64', given: 3 } } });
  });
});
