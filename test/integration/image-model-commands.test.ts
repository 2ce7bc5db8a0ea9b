/**
 * /imagine held to what the configured image model is, read from its folder when hearth starts: the
 * native size as the default size, SDXL's smallest size, a Turbo model's steps and guidance, on the
 * real commands and engine (a simulated GPU runs the jobs).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HearthApp } from '../../src/app/hearth-app.js';
import { configSchema } from '../../src/config/schema.js';
import { InProcessExecutor } from '../../src/engine/executor/in-process-executor.js';
import { imageOptionsOf, imageVariationPayload } from '../../src/jobs/image.js';
import { imageModelSummary } from '../../src/jobs/image-model.js';
import { createLogger } from '../../src/util/log.js';
import { SimRunner } from '../fixtures/sim-runner.js';
import { SDXL_TURBO, writeTinySdxl } from '../fixtures/tiny-sdxl.js';

const root = mkdtempSync(join(tmpdir(), 'hearth-image-model-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const inv = { platform: 'web' as const, userId: 'web:ann', admin: false, weight: 1, conversationId: 'web:ann:1', origin: null };

function app(image: Record<string, unknown>, name: string): HearthApp {
  const config = configSchema.parse({ dataDir: join(root, `data-${name}`), models: { image } });
  const sleep = (): Promise<void> => new Promise((r) => setImmediate(r));
  return new HearthApp({
    config,
    log: createLogger('error', new PassThrough()),
    executor: new InProcessExecutor([new SimRunner({ model: 'image', kind: 'image', stepMs: 1 }, { sleep })]),
    vramBudgetBytes: 100e9,
    adapters: [],
  });
}

let sdxl: string;
let turbo: string;
let noEncoder: string;
beforeAll(async () => {
  sdxl = await writeTinySdxl(join(root, 'sdxl'), { sampleSize: 128 });
  turbo = await writeTinySdxl(join(root, 'sdxl-turbo'), { schedulerConfig: SDXL_TURBO, sampleSize: 64 });
  noEncoder = await writeTinySdxl(join(root, 'sdxl-no-encoder'), { sampleSize: 128, vaeEncoder: false });
});

describe('/imagine and the model it runs on', () => {
  it('makes the native size the default size when the config names none, and holds SDXL to 512 and up', async () => {
    const hearth = app({ dir: sdxl, limits: { minSize: 256, maxSize: 1024 } }, 'sdxl');
    try {
      const r = hearth.commands.imagine({ prompt: 'a fox' }, inv);
      if (!r.ok) throw new Error(r.error.message);
      expect(r.value.payload).toMatchObject({ width: 1024, height: 1024, steps: 25 });
      expect(hearth.commands.limits.image).toMatchObject({ minSize: 512, maxSize: 1024, maxGuidance: 30 });
      expect(hearth.commands.imagine({ prompt: 'a fox', width: 256 }, inv)).toMatchObject({ ok: false, error: { facts: { option: 'width', given: 256 } } });
      expect(imageModelSummary(hearth.commands.imageModel!)).toContain('SDXL (native 1024×1024)');
    } finally {
      await hearth.close();
    }
  });

  it('keeps a configured default size', async () => {
    const hearth = app({ dir: sdxl, defaults: { width: 768, height: 512 } }, 'sized');
    try {
      const r = hearth.commands.imagine({ prompt: 'a fox' }, inv);
      expect(r.ok && r.value.payload).toMatchObject({ width: 768, height: 512 });
    } finally {
      await hearth.close();
    }
  });

  it('holds a Turbo model to 1–4 steps without guidance, and says so in the limits the faces show', async () => {
    const hearth = app({ dir: turbo }, 'turbo');
    try {
      const r = hearth.commands.imagine({ prompt: 'a fox' }, inv);
      expect(r.ok && r.value.payload).toMatchObject({ width: 512, height: 512, steps: 1, guidance: 0 });
      expect(hearth.commands.limits.image).toMatchObject({ maxSteps: 4, maxGuidance: 0 });
      expect(hearth.commands.imagine({ prompt: 'a fox', steps: 20 }, inv)).toMatchObject({
        ok: false,
        error: { code: 'INVALID_INPUT', message: 'steps must be a whole number from 1 to 4 (SDXL-Turbo runs 1–4 steps without guidance); got 20' },
      });
    } finally {
      await hearth.close();
    }
  });

  it('queues image-to-image and a Vary of its result; an ended one is varied, not rerolled (its upload is gone)', async () => {
    const hearth = app({ dir: sdxl }, 'img2img');
    try {
      await hearth.start();
      const init = Buffer.from('pretend png bytes').toString('base64');
      const r = hearth.commands.imagine({ prompt: 'a fox', initImageBase64: init }, inv);
      if (!r.ok) throw new Error(r.error.message);
      expect(r.value.payload).toMatchObject({ initImageBase64: init, strength: 0.6, width: 1024 });
      // Fewer engine steps than text-to-image: 15 of 25 denoised, plus encodes and decode.
      const fromText = hearth.commands.imagine({ prompt: 'a fox' }, inv);
      if (!fromText.ok) throw new Error(fromText.error.message);
      expect(r.value.estimateSeconds).toBeLessThan(fromText.value.estimateSeconds);
      await hearth.engine.whenIdle();
      const ended = hearth.engine.getJob(r.value.id)!;
      expect(ended.payload).not.toHaveProperty('initImageBase64');
      expect(hearth.commands.reroll(r.value.id, inv)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND', message: expect.stringContaining('vary its result') as string } });
      const options = imageOptionsOf(ended)!;
      const vary = imageVariationPayload(options, { pngBase64: init, strength: 0.4, seed: 9, variationOf: ended.id });
      if (!vary.ok) throw new Error(vary.error.message);
      const v = hearth.commands.imagine(vary.value, inv);
      expect(v.ok && v.value.payload).toMatchObject({ prompt: 'a fox', strength: 0.4, seed: 9, variationOf: ended.id, initImageBase64: init });
    } finally {
      await hearth.close();
    }
  });

  it('refuses image-to-image and Vary on an export with no vae_encoder, before any download, saying why; the faces offer neither', async () => {
    const hearth = app({ dir: noEncoder }, 'no-encoder');
    try {
      await hearth.start();
      expect(hearth.commands.limits.image).toMatchObject({ fromImage: false, variations: [] });
      const why = /cannot start from an image: its export has no vae_encoder .*text-to-image still works/;
      const link = await hearth.commands.imagineFrom({ prompt: 'a fox', image: { url: 'https://elsewhere.example/fox.png' }, strength: 0.5 }, inv);
      expect(link).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', message: expect.stringMatching(why) as string } });
      expect(hearth.commands.checkImagine({ prompt: 'a fox', image: { bytes: new Uint8Array(4) } })).toMatchObject({ ok: false, error: { message: expect.stringMatching(why) as string } });
      expect(hearth.commands.imagine({ prompt: 'a fox', initImageBase64: 'AAAA', strength: 0.5 }, inv)).toMatchObject({ ok: false, error: { message: expect.stringMatching(why) as string } });
      const made = hearth.commands.imagine({ prompt: 'a fox', steps: 2 }, inv);
      if (!made.ok) throw new Error(made.error.message);
      await hearth.engine.whenIdle();
      expect(hearth.engine.getJob(made.value.id)?.state).toBe('done');
      expect(hearth.commands.vary(made.value.id, 0.35, inv)).toMatchObject({ ok: false, error: { message: expect.stringMatching(/cannot make a variation of a picture: its export has no vae_encoder/) as string } });
      expect(hearth.store.listJobs({}).length).toBe(1);
      expect(imageModelSummary(hearth.commands.imageModel!)).toContain('no VAE encoder');
    } finally {
      await hearth.close();
    }
  });

  it('falls back to 512 and the configured limits when the folder is not there (a coordinator without the model)', async () => {
    const hearth = app({ dir: join(root, 'elsewhere'), kind: 'turbo' }, 'absent');
    try {
      const r = hearth.commands.imagine({ prompt: 'a fox' }, inv);
      expect(r.ok && r.value.payload).toMatchObject({ width: 512, height: 512, steps: 1, guidance: 0 });
    } finally {
      await hearth.close();
    }
  });
});
