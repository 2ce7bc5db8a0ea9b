/**
 * The image runner on SDXL- and SDXL-Turbo-shaped exports (test/fixtures/tiny-sdxl.ts: optimum's
 * layout and input/output names, both eras of input types), end to end through real onnxruntime-node:
 * two text encoders (penultimate layers concatenated, text_encoder_2's pooled text_embeds), the
 * UNet's added `text_embeds` and `time_ids`, SDXL's VAE scaling factor, the native size from
 * unet/config.json when no size is given.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { estimateVramBytes, inspectModelFolder } from '../../src/runners/image/model-folder.js';
import { checkFinite } from '../../src/runners/image/job-setup.js';
import { readImageModelProfile } from '../../src/runners/image/model-profile.js';
import { writeTinySd } from '../fixtures/tiny-sd.js';
import { SDXL_TURBO, writeTinySdxl } from '../fixtures/tiny-sdxl.js';
import { pixelDistance, pngOf, tinyImageRunners } from '../helpers/image-runners.js';

// No size: the model's native size is the default (unet/config.json sample_size × 8).
const images = tinyImageRunners('hearth-sdxl-', { nativeSize: true, guidance: 5 });
const { runnerFor, generate } = images;
const png = pngOf;

describe.each(['old', 'new'] as const)('an SDXL export (optimum era %s)', (era) => {
  let dir: string;
  beforeAll(async () => {
    dir = await writeTinySdxl(join(images.root, `sdxl-${era}`), { era, sampleSize: 6 });
  });

  it('is read as SDXL: second encoder and tokenizer, scaling factor 0.13025, native size from unet/config.json', async () => {
    const folder = await inspectModelFolder(dir);
    expect(folder.xl).toMatchObject({ textEncoder2: join(dir, 'text_encoder_2', 'model.onnx'), zerosForEmptyPrompt: true });
    expect(folder.scalingFactor).toBe(0.13025);
    expect(folder.nativeSize).toBe(48);
  });

  it('/imagine with no size answers with a PNG of the native size; the prompt and the size ids matter', async () => {
    const runner = await runnerFor(dir);
    const a = await generate(runner, { prompt: 'a photo of a cat', seed: 4 });
    expect(await sharp(png(a)).metadata()).toMatchObject({ format: 'png', width: 48, height: 48 });
    expect(a.meta).toMatchObject({ width: 48, height: 48, scheduler: 'euler' });
    const b = await generate(runner, { prompt: 'a red house on the hill', seed: 4 });
    expect(await pixelDistance(png(a), png(b))).toBeGreaterThan(0.5);
    // A negative prompt replaces force_zeros_for_empty_prompt's zero embeddings.
    const c = await generate(runner, { prompt: 'a photo of a cat', seed: 4, negativePrompt: 'blue' });
    expect(await pixelDistance(png(a), png(c))).toBeGreaterThan(0.5);
    const sized = await generate(runner, { prompt: 'a photo of a cat', seed: 4, width: 64, height: 32 });
    expect(await sharp(png(sized)).metadata()).toMatchObject({ width: 64, height: 32 });
  });
});

describe('an SDXL-Turbo export', () => {
  it('runs 1 step without guidance (trailing Euler) to a PNG of the native size', async () => {
    const dir = await writeTinySdxl(join(images.root, 'turbo'), { schedulerConfig: SDXL_TURBO, sampleSize: 4 });
    const runner = await runnerFor(dir);
    const r = await generate(runner, { prompt: 'a photo of a dog', seed: 1, steps: 1, guidance: 0 });
    expect(await sharp(png(r)).metadata()).toMatchObject({ format: 'png', width: 32, height: 32 });
    expect(r.meta).toMatchObject({ steps: 1, guidance: 0 });
  });
});

describe('what the folder says the model is', () => {
  it('reads the family, native size, Turbo and image-to-image from the folder', async () => {
    const base = await writeTinySdxl(join(images.root, 'profile-base'), { sampleSize: 6 });
    expect(readImageModelProfile(base)).toEqual({ family: 'sdxl', nativeSize: 48, turbo: false, imageToImage: true, label: 'SDXL' });
    const turbo = await writeTinySdxl(join(images.root, 'sdxl-turbo-onnx'), { vaeEncoder: false });
    expect(readImageModelProfile(turbo)).toEqual({ family: 'sdxl', nativeSize: 32, turbo: true, imageToImage: false, label: 'SDXL-Turbo' });
    // Named in model_index.json, whatever the folder is called.
    const named = await writeTinySd(join(images.root, 'plain'));
    const index = JSON.parse(await readFile(join(named, 'model_index.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(named, 'model_index.json'), JSON.stringify({ ...index, _name_or_path: 'stabilityai/sd-turbo' }));
    expect(readImageModelProfile(named)).toMatchObject({ family: 'sd', nativeSize: 512, turbo: true, label: 'SD-Turbo' });
    expect(readImageModelProfile(join(images.root, 'nowhere'))).toBeUndefined();
  });

  it('holds a Turbo export to 1–4 steps and guidance 0, refusing more in words, unless the config says standard', async () => {
    const dir = await writeTinySdxl(join(images.root, 'turbo-limits'), { schedulerConfig: SDXL_TURBO, sampleSize: 4 });
    const runner = await runnerFor(dir);
    await expect(generate(runner, { prompt: 'a cat', steps: 8, guidance: 0 })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: 'steps must be a whole number from 1 to 4 (SDXL-Turbo runs 1–4 steps without guidance); got 8',
    });
    await expect(generate(runner, { prompt: 'a cat', steps: 2, guidance: 5 })).rejects.toMatchObject({ code: 'INVALID_INPUT', facts: { option: 'guidance', given: 5, allowed: 0 } });
    // The configured defaults (4 steps, guidance 5) are brought within the model's limits.
    expect((await generate(runner, { prompt: 'a cat' })).meta).toMatchObject({ steps: 4, guidance: 0 });
    const standard = await runnerFor(dir, { kind: 'standard' });
    expect((await generate(standard, { prompt: 'a cat', steps: 8, guidance: 5 })).meta).toMatchObject({ steps: 8, guidance: 5 });
  });

  it('warns at load when force_upcast meets a float16 VAE, and fails a decode that is not numbers naming it', async () => {
    const dir = await writeTinySd(join(images.root, 'fp16-upcast'), { fp16: true, forceUpcast: true });
    const warnings: string[] = [];
    await runnerFor(dir, { defaults: { width: 32, height: 32, steps: 2, guidance: 5, scheduler: 'euler', negativePrompt: '' } }, { info: () => undefined, warn: (m) => warnings.push(m) });
    expect(warnings.join('\n')).toContain('force_upcast');
    const folder = await inspectModelFolder(dir);
    expect(folder.forceUpcast).toBe(true);
    expect(() => checkFinite(Float32Array.of(0.5, Number.NaN), folder)).toThrow(/force_upcast/);
    expect(() => checkFinite(Float32Array.of(0.5, -1), folder)).not.toThrow();
    const quiet: string[] = [];
    await runnerFor(await writeTinySd(join(images.root, 'fp32-upcast'), { forceUpcast: true }), {}, { info: () => undefined, warn: (m) => quiet.push(m) });
    expect(quiet).toEqual([]);
  });
});

describe('SDXL folder checks and residency', () => {
  it('refuses an SDXL export without tokenizer_2, naming it', async () => {
    const dir = await writeTinySdxl(join(images.root, 'no-tok2'));
    await rm(join(dir, 'tokenizer_2'), { recursive: true });
    await expect(inspectModelFolder(dir)).rejects.toMatchObject({ code: 'MODEL_MISSING', message: expect.stringContaining('tokenizer_2') as string });
  });

  it('counts the second text encoder in the VRAM estimate', async () => {
    const dir = await writeTinySdxl(join(images.root, 'vram'));
    const withBoth = await estimateVramBytes(dir, 32, 32);
    await rm(join(dir, 'text_encoder_2'), { recursive: true });
    expect(withBoth).toBeGreaterThan(await estimateVramBytes(dir, 32, 32));
  });
});
