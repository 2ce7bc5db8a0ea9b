/**
 * The image runner on SDXL- and SDXL-Turbo-shaped exports (test/fixtures/tiny-sdxl.ts: optimum's
 * layout and input/output names, both eras of input types), end to end through real onnxruntime-node:
 * two text encoders (penultimate layers concatenated, text_encoder_2's pooled text_embeds), the
 * UNet's added `text_embeds` and `time_ids`, SDXL's VAE scaling factor, the native size from
 * unet/config.json when no size is given.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { estimateVramBytes, inspectModelFolder } from '../../src/runners/image/model-folder.js';
import { SDXL_TURBO, writeTinySdxl } from '../fixtures/tiny-sdxl.js';
import { pngOf, tinyImageRunners } from '../helpers/image-runners.js';

const images = tinyImageRunners('hearth-sdxl-', { guidance: 5 });
const { runnerFor, generate } = images;
const png = pngOf;

async function meanAbsDiff(a: Buffer, b: Buffer): Promise<number> {
  const [pa, pb] = await Promise.all([sharp(a).raw().toBuffer(), sharp(b).raw().toBuffer()]);
  let s = 0;
  for (let i = 0; i < pa.length; i++) s += Math.abs((pa[i] as number) - (pb[i] as number));
  return s / pa.length;
}

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
    expect(await meanAbsDiff(png(a), png(b))).toBeGreaterThan(0.5);
    // A negative prompt replaces force_zeros_for_empty_prompt's zero embeddings.
    const c = await generate(runner, { prompt: 'a photo of a cat', seed: 4, negativePrompt: 'blue' });
    expect(await meanAbsDiff(png(a), png(c))).toBeGreaterThan(0.5);
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
