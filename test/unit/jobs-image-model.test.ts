import { describe, expect, it } from 'vitest';
import { buildImagePayload, DEFAULT_IMAGE_DEFAULTS, DEFAULT_IMAGE_LIMITS } from '../../src/jobs/image.js';
import { imageModelRules, imageModelSummary, SDXL_MIN_SIZE, TURBO_STEPS, type ImageModelConfig, type ImageModelProfile } from '../../src/jobs/image-model.js';

const { width: _w, height: _h, ...sizeless } = DEFAULT_IMAGE_DEFAULTS;
const config: ImageModelConfig = { limits: { ...DEFAULT_IMAGE_LIMITS, minSize: 256, maxSize: 1536 }, defaults: { ...sizeless, steps: 25, guidance: 7.5 } };
const sd15: ImageModelProfile = { family: 'sd', nativeSize: 512, turbo: false, imageToImage: true, label: 'SD' };
const sdxl: ImageModelProfile = { family: 'sdxl', nativeSize: 1024, turbo: false, imageToImage: true, label: 'SDXL' };
const sdxlTurbo: ImageModelProfile = { family: 'sdxl', nativeSize: 512, turbo: true, imageToImage: true, label: 'SDXL-Turbo' };

describe('image model rules', () => {
  it('defaults to the native size when the config names none, else 512, and keeps a configured size', () => {
    expect(imageModelRules(config, sd15).defaults).toMatchObject({ width: 512, height: 512 });
    expect(imageModelRules(config, sdxl).defaults).toMatchObject({ width: 1024, height: 1024 });
    expect(imageModelRules(config).defaults).toMatchObject({ width: 512, height: 512 });
    expect(imageModelRules({ ...config, defaults: { ...config.defaults, width: 768, height: 640 } }, sdxl).defaults).toMatchObject({ width: 768, height: 640 });
    // A native size past the config's maxSize is brought within it.
    expect(imageModelRules({ ...config, limits: { ...config.limits, maxSize: 768 } }, sdxl).defaults).toMatchObject({ width: 768 });
  });

  it('holds SDXL to 512 pixels and up, refusing smaller with the limit named', () => {
    const rules = imageModelRules(config, sdxl);
    expect(rules.limits.minSize).toBe(SDXL_MIN_SIZE);
    expect(imageModelRules(config, sd15).limits.minSize).toBe(256);
    expect(buildImagePayload({ prompt: 'a cat', width: 256 }, rules, () => 1)).toMatchObject({
      ok: false,
      error: { code: 'INVALID_INPUT', facts: { option: 'width', given: 256, allowed: '512–1536, multiple of 8' } },
    });
    // SDXL-Turbo, trained at 512, goes down to half that.
    expect(imageModelRules(config, sdxlTurbo).limits.minSize).toBe(256);
  });

  it('holds a Turbo model to 1–4 steps and guidance 0: the defaults fit, more is refused saying why', () => {
    const rules = imageModelRules(config, sdxlTurbo);
    expect(rules.turbo).toBe(true);
    expect(rules.limits).toMatchObject({ maxSteps: TURBO_STEPS.max, maxGuidance: 0 });
    expect(rules.defaults).toMatchObject({ steps: 1, guidance: 0, width: 512, height: 512 });
    expect(buildImagePayload({ prompt: 'a cat' }, rules, () => 1)).toMatchObject({ ok: true, value: { steps: 1, guidance: 0 } });
    expect(buildImagePayload({ prompt: 'a cat', steps: 25 }, rules, () => 1)).toEqual({
      ok: false,
      error: {
        code: 'INVALID_INPUT',
        message: 'steps must be a whole number from 1 to 4 (SDXL-Turbo runs 1–4 steps without guidance); got 25',
        facts: { option: 'steps', given: 25, allowed: '1–4' },
      },
    });
    expect(buildImagePayload({ prompt: 'a cat', guidance: 7.5 }, rules, () => 1)).toEqual({
      ok: false,
      error: {
        code: 'INVALID_INPUT',
        message: 'guidance must be 0 for this model (SDXL-Turbo runs 1–4 steps without guidance); got 7.5',
        facts: { option: 'guidance', given: 7.5, allowed: 0 },
      },
    });
    // A configured default that already fits is kept.
    expect(imageModelRules({ ...config, defaults: { ...config.defaults, steps: 2 } }, sdxlTurbo).defaults.steps).toBe(2);
  });

  it('takes models.image.kind over the folder', () => {
    expect(imageModelRules({ ...config, kind: 'standard' }, sdxlTurbo).turbo).toBe(false);
    expect(imageModelRules({ ...config, kind: 'standard' }, sdxlTurbo).limits.maxSteps).toBe(60);
    const named = imageModelRules({ ...config, kind: 'turbo' }, sd15);
    expect(named).toMatchObject({ turbo: true, limits: { maxSteps: 4, maxGuidance: 0 } });
    expect(imageModelRules({ ...config, kind: 'turbo' }).limits.why).toBe('this Turbo model runs 1–4 steps without guidance');
  });

  it('says a model’s options in words', () => {
    expect(imageModelSummary(imageModelRules(config, sdxl))).toBe(
      [
        'SDXL (native 1024×1024)',
        'Size: 512–1536 pixels a side, multiples of 8 (default 1024×1024)',
        'Steps: 1–60 (default 25)',
        'Guidance: 0–30 (default 7.5)',
        "Samplers: Euler, Euler a, DPM++ 2M, DPM++ 2M Karras, DDIM, LCM, UniPC, default (the model's own) (default Euler)",
        'From an image: strength 0–1, how far to go from it (default 0.6)',
      ].join('\n'),
    );
    const turbo = imageModelSummary(imageModelRules(config, { ...sdxlTurbo, imageToImage: false }));
    expect(turbo).toContain('SDXL-Turbo (native 512×512): a Turbo model, 1–4 steps without guidance');
    expect(turbo).toContain('Steps: 1–4 (default 1)');
    expect(turbo).toContain('Guidance: 0 (off)');
    expect(turbo).toContain('From an image: not with this model (its export has no VAE encoder)');
    expect(imageModelSummary(imageModelRules(config))).toMatch(/^Image model\nSize: 256–1536 .*default 512×512/);
  });
});
