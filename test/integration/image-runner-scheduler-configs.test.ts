/**
 * The image runner on the scheduler configs real exports ship (SD 2.1, SD-Turbo, SDXL), written as
 * diffusers writes them (sorted keys, `-Infinity`), end to end: folder check, `default` sampler,
 * timesteps and prediction type, image.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { HearthError, type Json } from '../../src/engine/types.js';
import { ImageRunner } from '../../src/runners/image/image-runner.js';
import { inspectModelFolder } from '../../src/runners/image/model-folder.js';
import { createScheduler, SCHEDULER_NAMES, type SchedulerName } from '../../src/runners/image/schedulers/index.js';
import {
  diffusersJson,
  SD21_DDIM_EXPORT,
  SD21_DDIM_HUB,
  SD21_DPMPP_EXPORT,
  SD21_EULER_EXPORT,
  SD_TURBO,
  SD15_UNIPC_EXPORT,
  SDXL_BASE,
  SDXL_UNIPC_EXPORT,
  type DiffusersConfig,
} from '../fixtures/sd-scheduler-configs.js';
import { writeTinySd } from '../fixtures/tiny-sd.js';
import { writeTinySdxl } from '../fixtures/tiny-sdxl.js';
import { pngOf, tinyImageRunners } from '../helpers/image-runners.js';

const images = tinyImageRunners('hearth-sched-');
const { settings, runnerFor, generate } = images;
const png = pngOf;
let seq = 0;

/** A tiny SD export (same weights every time) whose scheduler_config.json is `config`. */
async function exportWith(config: DiffusersConfig): Promise<string> {
  return writeTinySd(join(images.root, `export-${++seq}`), { schedulerConfig: config });
}

/** Standard deviation of the pixel values: a picture, not a flat or NaN-black field. */
async function spread(bytes: Buffer): Promise<number> {
  const px = await sharp(bytes).raw().toBuffer();
  const mean = px.reduce((a, b) => a + b, 0) / px.length;
  return Math.sqrt(px.reduce((a, b) => a + (b - mean) ** 2, 0) / px.length);
}

interface Case {
  name: string;
  config: DiffusersConfig;
  /** What `default` resolves to. */
  sampler: SchedulerName;
  /** The sampler's timesteps for 4 steps, as diffusers' set_timesteps gives them for this config. */
  timesteps: number[];
  prediction: 'epsilon' | 'v_prediction';
}

const CASES: Case[] = [
  // DDIM `leading` (its default) + steps_offset 1: arange(0, 4) · 250 + 1, reversed.
  { name: 'SD 2.1 DDIM (hub)', config: SD21_DDIM_HUB, sampler: 'ddim', timesteps: [751, 501, 251, 1], prediction: 'v_prediction' },
  { name: 'SD 2.1 DDIM (re-saved export)', config: SD21_DDIM_EXPORT, sampler: 'ddim', timesteps: [751, 501, 251, 1], prediction: 'v_prediction' },
  // Euler `linspace`: linspace(0, 999, 4) reversed, steps_offset unused.
  { name: 'SD 2.1 EulerDiscrete', config: SD21_EULER_EXPORT, sampler: 'euler', timesteps: [999, 666, 333, 0], prediction: 'v_prediction' },
  // DPM-Solver++ without Karras σs (use_karras_sigmas false): linspace(0, 999, 5).round() reversed, the 0 dropped.
  { name: 'SD 2.1 DPMSolverMultistep (-Infinity)', config: SD21_DPMPP_EXPORT, sampler: 'dpmpp_2m', timesteps: [999, 749, 500, 250], prediction: 'v_prediction' },
  // Euler `trailing`: round(arange(1000, 0, -250)) − 1.
  { name: 'SD-Turbo', config: SD_TURBO, sampler: 'euler', timesteps: [999, 749, 499, 249], prediction: 'epsilon' },
  // Euler `leading` + steps_offset 1.
  { name: 'SDXL base', config: SDXL_BASE, sampler: 'euler', timesteps: [751, 501, 251, 1], prediction: 'epsilon' },
  // UniPC `linspace` (the SD 1.5 PNDM file names no spacing): linspace(0, 999, 5).round() reversed, the 0 dropped (499.5 → 500).
  { name: 'SD 1.5 re-saved with UniPCMultistep', config: SD15_UNIPC_EXPORT, sampler: 'unipc', timesteps: [999, 749, 500, 250], prediction: 'epsilon' },
  // UniPC `leading` + steps_offset 1: arange(0, 5) · (1000 // 5), reversed, the last dropped, + 1.
  { name: 'SDXL base re-saved with UniPCMultistep', config: SDXL_UNIPC_EXPORT, sampler: 'unipc', timesteps: [801, 601, 401, 201], prediction: 'epsilon' },
];

describe.each(CASES)('scheduler_config.json of $name', (c) => {
  let dir: string;
  beforeAll(async () => {
    dir = await exportWith(c.config);
  });

  it('is read with the keys that matter and gives diffusers\' timesteps', async () => {
    const folder = await inspectModelFolder(dir);
    expect(folder.schedulerConfig).toMatchObject({
      className: c.config._class_name,
      numTrainTimesteps: 1000,
      betaSchedule: 'scaled_linear',
      predictionType: c.prediction,
      stepsOffset: 1,
      setAlphaToOne: false,
    });
    const timesteps = createScheduler(c.sampler, folder.schedulerConfig, 4).timesteps;
    if (c.sampler === 'dpmpp_2m_karras') expect([timesteps[0], timesteps.at(-1)]).toEqual(c.timesteps);
    else expect(timesteps).toEqual(c.timesteps);
  });

  it('runs through the image runner with `default` and with every sampler', async () => {
    const runner = await runnerFor(dir);
    const byDefault = await generate(runner, { prompt: 'a photo of a cat', seed: 5, steps: 4 });
    expect(byDefault.meta?.scheduler).toBe(c.sampler);
    expect(await spread(png(byDefault))).toBeGreaterThan(2);
    const explicit = await generate(runner, { prompt: 'a photo of a cat', seed: 5, steps: 4, scheduler: c.sampler });
    expect(png(explicit).equals(png(byDefault))).toBe(true);
    for (const sampler of SCHEDULER_NAMES) {
      const r = await generate(runner, { prompt: 'a red house', seed: 6, steps: 3, scheduler: sampler });
      expect(r.meta?.scheduler).toBe(sampler);
      expect(await sharp(png(r)).metadata()).toMatchObject({ format: 'png', width: 32, height: 32 });
      expect(await spread(png(r))).toBeGreaterThan(2);
    }
  });
});

describe('what the real configs change', () => {
  async function image(config: DiffusersConfig, payload: Record<string, Json> = {}): Promise<Buffer> {
    const runner = new ImageRunner(settings(await exportWith(config)), { logger: { info: () => undefined, warn: () => undefined } });
    try {
      await runner.load();
      return png(await generate(runner, { prompt: 'a photo of a cat', seed: 9, steps: 4, ...payload }));
    } finally {
      await runner.dispose();
    }
  }

  it('writes -Infinity as diffusers does, and the runner loads it', async () => {
    const dir = await exportWith(SD21_DPMPP_EXPORT);
    const text = await readFile(join(dir, 'scheduler', 'scheduler_config.json'), 'utf8');
    expect(text).toContain('"lambda_min_clipped": -Infinity,');
    expect(() => JSON.parse(text) as unknown).toThrow(SyntaxError);
    await expect(inspectModelFolder(dir)).resolves.toMatchObject({ schedulerConfig: { className: 'DPMSolverMultistepScheduler' } });
  });

  it('v-prediction is honoured: the SD 2.1 config read as epsilon gives another image', async () => {
    for (const config of [SD21_DDIM_EXPORT, SD21_EULER_EXPORT, SD21_DPMPP_EXPORT]) {
      const asV = await image(config);
      const asEps = await image({ ...config, prediction_type: 'epsilon' });
      expect(asV.equals(asEps)).toBe(false);
    }
  });

  it('the keys a re-save adds with their defaults change nothing (as in diffusers)', async () => {
    expect((await image(SD21_DDIM_EXPORT)).equals(await image(SD21_DDIM_HUB))).toBe(true);
    const { interpolation_type: _i, use_karras_sigmas: _k, sample_max_value: _s, clip_sample: _c, skip_prk_steps: _p, ...bareXl } = SDXL_BASE;
    expect((await image(SDXL_BASE)).equals(await image(bareXl))).toBe(true);
  });

  it('spacing and offset are honoured: Turbo in one step differs from the same config `leading`', async () => {
    const turbo = await image(SD_TURBO, { steps: 1, guidance: 0 });
    expect(await spread(turbo)).toBeGreaterThan(2);
    expect(turbo.equals(await image({ ...SD_TURBO, timestep_spacing: 'leading' }, { steps: 1, guidance: 0 }))).toBe(false);
    expect((await image(SDXL_BASE)).equals(await image({ ...SDXL_BASE, steps_offset: 0 }))).toBe(false);
  });

  it('Python float literals: NaN or Infinity in a key we ignore loads; in a key we read it is MODEL_INVALID naming the key', async () => {
    const dir = await exportWith({ ...SDXL_BASE, flow_shift: NaN, max_shift: Infinity });
    await expect(inspectModelFolder(dir)).resolves.toMatchObject({ schedulerConfig: { className: 'EulerDiscreteScheduler' } });
    const file = join(dir, 'scheduler', 'scheduler_config.json');
    await writeFile(file, diffusersJson({ ...SDXL_BASE, beta_end: NaN }));
    const error = await inspectModelFolder(dir).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(HearthError);
    expect((error as HearthError).code).toBe('MODEL_INVALID');
    expect((error as HearthError).message).toMatch(/expected beta_end to be a number ≥ 0; got NaN$/);
    // A string that merely says "NaN" stays a string.
    await writeFile(file, diffusersJson({ ...SDXL_BASE, timestep_spacing: 'NaN' }));
    await expect(inspectModelFolder(dir)).rejects.toThrow(/timestep_spacing to be one of leading, trailing, linspace; got "NaN"/);
  });
});

describe('UniPC on an SDXL export whose scheduler_config.json names UniPCMultistepScheduler', () => {
  /** Mean absolute difference of two same-size images' pixels. */
  async function distance(a: Buffer, b: Buffer): Promise<number> {
    const [pa, pb] = await Promise.all([sharp(a).removeAlpha().raw().toBuffer(), sharp(b).removeAlpha().raw().toBuffer()]);
    return pa.reduce((sum, v, i) => sum + Math.abs(v - (pb[i] as number)), 0) / pa.length;
  }

  it('paints with UniPC by default, and image-to-image goes further from the source as the strength rises', async () => {
    const runner = await runnerFor(await writeTinySdxl(join(images.root, 'sdxl-unipc'), { schedulerConfig: SDXL_UNIPC_EXPORT }));
    const fromText = await generate(runner, { prompt: 'a photo of a cat', seed: 2, steps: 8 });
    expect(fromText.meta?.scheduler).toBe('unipc');
    expect(await sharp(png(fromText)).metadata()).toMatchObject({ width: 32, height: 32 });
    expect(await spread(png(fromText))).toBeGreaterThan(2);
    const source = await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 200, g: 80, b: 40 } } })
      .composite([{ input: Buffer.from('<svg width="32" height="32"><circle cx="16" cy="16" r="10" fill="#1040c0"/></svg>') }])
      .png()
      .toBuffer();
    const b64 = source.toString('base64');
    const near = await generate(runner, { prompt: 'a photo of a cat', seed: 2, steps: 8, initImageBase64: b64, strength: 0.25 });
    const far = await generate(runner, { prompt: 'a photo of a cat', seed: 2, steps: 8, initImageBase64: b64, strength: 0.9 });
    expect([near.meta?.scheduler, near.meta?.denoisingSteps, far.meta?.denoisingSteps]).toEqual(['unipc', 2, 7]);
    const dNear = await distance(png(near), source);
    expect(dNear).toBeGreaterThan(0);
    expect(await distance(png(far), source)).toBeGreaterThan(1.5 * dNear);
  });
});
