/**
 * The image runner end to end on tiny SD-shaped ONNX models the fixture writes: real tokenizer
 * (transformers.js), real onnxruntime-node in the runner's worker thread, real schedulers, sharp.
 */
import { copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import type { StepOutput } from '../../src/engine/runner.js';
import assert from 'node:assert/strict';
import { HearthError, type JobEvent, type JobResult, type Json } from '../../src/engine/types.js';
import { ClipTokenizer } from '../../src/runners/image/clip-tokenizer.js';
import { ImageRunner, type ImageRunnerLogger } from '../../src/runners/image/image-runner.js';
import { detectOrtProviders } from '../../src/runners/image/providers.js';
import type { ImageRunnerSettings } from '../../src/runners/image/settings.js';
import { TINY_SD_WORDS, writeTinySd } from '../fixtures/tiny-sd.js';
import { pixelDistance, pngOf, tinyImageRunners, type ImageRun } from '../helpers/image-runners.js';
import { hearthRejection as rejection } from '../helpers/rejections.js';

const images = tinyImageRunners('hearth-image-', { width: 64, height: 48, steps: 6 });
const { settings, run: generate } = images;
let base: string;
let badJobs = 0;

function memoryLogger(): ImageRunnerLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`) };
}

function loadedRunner(dir: string, over: Partial<ImageRunnerSettings> = {}, logger: ImageRunnerLogger = memoryLogger()): Promise<ImageRunner> {
  return images.runnerFor(dir, over, logger);
}

function png(run: ImageRun): Uint8Array {
  return pngOf(run.result);
}

const meanAbsDiff = pixelDistance;

beforeAll(async () => {
  base = await writeTinySd(join(images.root, 'base'));
});

describe('image runner: generation', () => {
  let runner: ImageRunner;
  beforeAll(async () => {
    runner = await loadedRunner(base);
  });

  it('makes a PNG of the requested size, with a progress event per step and the options in meta', async () => {
    const run = await generate(runner, { prompt: 'a photo of a cat', width: 96, height: 64, steps: 5, seed: 7 });
    expect(run.steps).toBe(5);
    const meta = await sharp(png(run)).metadata();
    expect(meta).toMatchObject({ format: 'png', width: 96, height: 64, channels: 3 });
    expect(run.result.image).toMatchObject({ width: 96, height: 64 });
    expect(run.events).toEqual([1, 2, 3, 4, 5].map((step) => ({ type: 'progress', step, of: 5 })));
    expect(run.result.meta).toMatchObject({
      seed: 7,
      steps: 5,
      guidance: 7.5,
      scheduler: 'ddim', // the fixture's config names PNDMScheduler
      width: 96,
      height: 64,
      prompt: 'a photo of a cat',
      negativePrompt: '',
    });
    // Not a flat picture: the tiny model's output varies across the image.
    const stats = await sharp(png(run)).stats();
    expect(stats.channels.some((c) => c.max - c.min > 50)).toBe(true);
  });

  it('gives identical bytes for the same seed and options, and reports a chosen seed that reproduces', async () => {
    const a = await generate(runner, { prompt: 'a red house on the hill', seed: 1234 });
    const b = await generate(runner, { prompt: 'a red house on the hill', seed: 1234 });
    expect(Buffer.from(png(a)).equals(Buffer.from(png(b)))).toBe(true);

    const random = await generate(runner, { prompt: 'a red house on the hill' });
    const seed = random.result.meta?.seed;
    expect(Number.isInteger(seed)).toBe(true);
    expect(seed).toBeGreaterThanOrEqual(0);
    expect(seed).toBeLessThanOrEqual(2 ** 32 - 1);
    const again = await generate(runner, { prompt: 'a red house on the hill', seed: seed as number });
    expect(Buffer.from(png(again)).equals(Buffer.from(png(random)))).toBe(true);
  });

  it('gives a different image for a different prompt, seed, negative prompt or guidance', async () => {
    const ref = await generate(runner, { prompt: 'a photo of a cat', seed: 5 });
    const variants = [
      { prompt: 'a photo of a dog', seed: 5 },
      { prompt: 'a photo of a cat', seed: 6 },
      { prompt: 'a photo of a cat', seed: 5, negativePrompt: 'blue' },
      { prompt: 'a photo of a cat', seed: 5, guidance: 1 }, // unguided: one batch row, no negative
    ];
    for (const v of variants) {
      const other = await generate(runner, v);
      expect(await meanAbsDiff(png(ref), png(other)), JSON.stringify(v)).toBeGreaterThan(0.5);
    }
  });

  it('runs every sampler', async () => {
    const seen = new Map<string, Uint8Array>();
    for (const scheduler of ['euler', 'euler_a', 'dpmpp_2m', 'dpmpp_2m_karras', 'ddim', 'lcm', 'unipc', 'default']) {
      const run = await generate(runner, { prompt: 'a cat', seed: 3, scheduler, steps: 4, width: 32, height: 32 });
      expect((await sharp(png(run)).metadata()).width).toBe(32);
      seen.set(String(run.result.meta?.scheduler), png(run));
    }
    expect([...seen.keys()].sort()).toEqual(['ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'euler', 'euler_a', 'lcm', 'unipc']);
  });

  it('emits latent previews every K steps as small PNGs', async () => {
    const r = await loadedRunner(base, { previewEvery: 2 });
    const run = await generate(r, { prompt: 'a blue dog', steps: 5, width: 64, height: 48, seed: 1 });
    const previews = run.events.filter((e): e is Extract<JobEvent, { type: 'preview' }> => e.type === 'preview');
    expect(previews.map((p) => p.step)).toEqual([2, 4]);
    for (const p of previews) {
      // Twice the latent size: a quarter of the image.
      expect(await sharp(p.png).metadata()).toMatchObject({ format: 'png', width: 16, height: 12 });
    }
    const types = run.events.map((e) => (e.type === 'progress' ? `p${e.step}` : e.type));
    expect(types).toEqual(['p1', 'p2', 'preview', 'p3', 'p4', 'preview', 'p5']);
  });
});

describe('image runner: cancel and resume', () => {
  let runner: ImageRunner;
  beforeAll(async () => {
    runner = await loadedRunner(base);
  });

  it('stops between steps when ended, and forgets the job', async () => {
    await runner.begin({ id: 'cancel-1', kind: 'image', model: 'image', userId: 'u', payload: { prompt: 'a cat', steps: 8, seed: 1 } });
    const events: JobEvent[] = [];
    const emit = (_: string, e: JobEvent): void => void events.push(e);
    for (let i = 0; i < 3; i++) expect(await runner.step(['cancel-1'], { emit })).toEqual([{ jobId: 'cancel-1' }]);
    await runner.end('cancel-1');
    await runner.end('cancel-1'); // unknown now: still fine
    expect(await runner.step(['cancel-1'], { emit })).toMatchObject([{ jobId: 'cancel-1', failed: { code: 'NOT_FOUND' } }]);
    expect(events).toHaveLength(3);
  });

  it('returns at once on abort without advancing, and the job resumes to the same image', async () => {
    const payload = { prompt: 'a dog on the hill', steps: 6, seed: 99 };
    const straight = await generate(runner, payload);

    await runner.begin({ id: 'abort-1', kind: 'image', model: 'image', userId: 'u', payload });
    const events: JobEvent[] = [];
    const emit = (_: string, e: JobEvent): void => void events.push(e);
    await runner.step(['abort-1'], { emit });
    await runner.step(['abort-1'], { emit });
    // Aborted while the UNet runs in the worker thread: the step comes back without a result.
    const controller = new AbortController();
    const pending = runner.step(['abort-1'], { emit, signal: controller.signal });
    controller.abort();
    const outs: StepOutput[] = await pending;
    expect(outs).toEqual([{ jobId: 'abort-1' }]);
    // Already aborted before it starts: nothing runs.
    expect(await runner.step(['abort-1'], { emit, signal: AbortSignal.abort() })).toEqual([{ jobId: 'abort-1' }]);
    expect(events.map((e) => (e.type === 'progress' ? e.step : e.type))).toEqual([1, 2]);

    let done: JobResult | undefined;
    while (!done) {
      const [out] = await runner.step(['abort-1'], { emit });
      if (out?.failed) throw HearthError.from(out.failed);
      done = out?.done;
    }
    expect(events.map((e) => (e.type === 'progress' ? e.step : e.type))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Buffer.from(done.image?.png ?? []).equals(Buffer.from(png(straight)))).toBe(true);
  });

  it('resumes a job across unload and load', async () => {
    const payload = { prompt: 'a photo of the red house', steps: 4, seed: 11 };
    const straight = await generate(runner, payload);
    await runner.begin({ id: 'reload-1', kind: 'image', model: 'image', userId: 'u', payload });
    const emit = (): void => undefined;
    await runner.step(['reload-1'], { emit });
    await runner.step(['reload-1'], { emit });
    await runner.unload();
    expect(runner.activeProvider()).toBeNull();
    await expect(runner.step(['reload-1'], { emit })).rejects.toMatchObject({ code: 'RUNNER_FAILED', facts: { loaded: false } });
    await runner.load();
    await runner.step(['reload-1'], { emit });
    const [last] = await runner.step(['reload-1'], { emit });
    expect(Buffer.from(last?.done?.image?.png ?? []).equals(Buffer.from(png(straight)))).toBe(true);
  });

  it('restarts a worker thread that stopped, and finishes the job', async () => {
    const logger = memoryLogger();
    const r = await loadedRunner(base, {}, logger);
    const payload = { prompt: 'a cat on the hill', steps: 3, seed: 12 };
    const straight = await generate(r, payload);
    await r.begin({ id: 'crash-1', kind: 'image', model: 'image', userId: 'u', payload });
    const emit = (): void => undefined;
    await r.step(['crash-1'], { emit });
    // The thread going away (as after an uncaught error in it) is seen by the next call.
    await (r as unknown as { life: { peek(): { client: { close(): Promise<void> } } } }).life.peek().client.close();
    await r.step(['crash-1'], { emit });
    const [last] = await r.step(['crash-1'], { emit });
    expect(Buffer.from(last?.done?.image?.png ?? []).equals(Buffer.from(png(straight)))).toBe(true);
    expect(logger.lines.some((l) => l.includes('worker thread stopped'))).toBe(true);
  });

  it("keeps the caller's event loop free while the UNet runs", async () => {
    const heavy = await writeTinySd(join(images.root, 'heavy'), { unetChannels: 48, unetLayers: 3 });
    const r = await loadedRunner(heavy, { threads: 1 });
    await r.begin({ id: 'loop-1', kind: 'image', model: 'image', userId: 'u', payload: { prompt: 'a cat', steps: 2, width: 256, height: 256, seed: 1 } });
    await r.step(['loop-1'], { emit: () => undefined }); // first step also encodes: warm up
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      // session.run blocks its thread; if it ran on this one, no timer could fire until the step ends.
      await r.step(['loop-1'], { emit: () => undefined });
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThan(0);
  });
});

describe('image runner: model variants', () => {
  it('loads the fast tokenizer.json form to the same ids and the same image as the slow files (the default)', async () => {
    const json = await writeTinySd(join(images.root, 'fast'), { tokenizer: 'json' });
    const fast = await ClipTokenizer.load(join(json, 'tokenizer'));
    const slowTok = await ClipTokenizer.load(join(base, 'tokenizer'));
    for (const text of ['a photo of a cat', 'A  Photo of the RED house, on a hill!', 'zebra 42 über']) {
      expect(Array.from(slowTok.encode(text).ids)).toEqual(Array.from(fast.encode(text).ids));
    }
    // The fixture's vocabulary: 256 byte tokens, the same with `</w>` (so "a</w>" is 256 + 64, byte
    // 'a' being the 65th printable byte after '!'), the merged words in TINY_SD_WORDS order
    // ("photo</w>" 515, "of</w>" 516, "cat</w>" 518), then BOS 536 and EOS 537, which also pads.
    expect([fast.bosId, fast.eosId, fast.padId]).toEqual([536, 537, 537]);
    expect(Array.from(fast.encode('a photo of a cat').ids)).toEqual([536, 320, 515, 516, 320, 518, ...Array<number>(71).fill(537)]);

    const a = await generate(await loadedRunner(base), { prompt: 'a photo of a cat', seed: 21 });
    const b = await generate(await loadedRunner(json), { prompt: 'a photo of a cat', seed: 21 });
    expect(Buffer.from(png(a)).equals(Buffer.from(png(b)))).toBe(true);
  });

  it('truncates a long prompt to 77 tokens and keeps the closing EOS', async () => {
    const tok = await ClipTokenizer.load(join(base, 'tokenizer'));
    const long = Array.from({ length: 100 }, (_, i) => TINY_SD_WORDS[i % TINY_SD_WORDS.length]).join(' ');
    const { ids, truncated } = tok.encode(long);
    expect(ids).toHaveLength(77);
    expect(truncated).toBe(true);
    expect(ids[0]).toBe(tok.bosId);
    expect(ids[76]).toBe(tok.eosId);
    expect(ids[75]).not.toBe(tok.eosId);
    expect(tok.encode('a cat').truncated).toBe(false);
  });

  it('feeds int64 ids and an int64 timestep when the models take them', async () => {
    const dir = await writeTinySd(join(images.root, 'int64'), { idsType: 'int64', timestepType: 'int64' });
    const run = await generate(await loadedRunner(dir), { prompt: 'a photo of a cat', seed: 2, scheduler: 'euler', steps: 3 });
    expect(await sharp(png(run)).metadata()).toMatchObject({ format: 'png', width: 64, height: 48 });
  });

  it('runs fp16 models (Uint16Array bits in and out) close to their fp32 twin', async () => {
    const dir = await writeTinySd(join(images.root, 'fp16'), { fp16: true });
    const payload = { prompt: 'a photo of a cat', seed: 4, scheduler: 'ddim', steps: 4 };
    const half = await generate(await loadedRunner(dir), payload);
    const full = await generate(await loadedRunner(base), payload);
    expect(await sharp(png(half)).metadata()).toMatchObject({ format: 'png', width: 64, height: 48 });
    // Same weights; only the boundaries are rounded to fp16.
    const diff = await meanAbsDiff(png(half), png(full));
    expect(diff).toBeLessThan(1);
  });

  it('holds a static-shape export to its size and batch, in the user\'s terms', async () => {
    const dir = await writeTinySd(join(images.root, 'static'), { unetStatic: { batch: 2, latentHeight: 6, latentWidth: 8 } });
    const r = await loadedRunner(dir);
    const run = await generate(r, { prompt: 'a cat', width: 64, height: 48, seed: 1, steps: 2 });
    expect(await sharp(png(run)).metadata()).toMatchObject({ width: 64, height: 48 });
    const size = await rejection(r.begin({ id: 'static-1', kind: 'image', model: 'image', userId: 'u', payload: { prompt: 'a cat', width: 96 } }));
    expect(size.code).toBe('INVALID_INPUT');
    expect(size.facts).toMatchObject({ field: 'width', given: 96, allowed: 64 });
    const unguided = await rejection(r.begin({ id: 'static-2', kind: 'image', model: 'image', userId: 'u', payload: { prompt: 'a cat', guidance: 1 } }));
    expect(unguided.facts).toMatchObject({ field: 'guidance', given: 1 });
    expect(unguided.message).toContain('above 1');
  });

  it('uses the VAE scaling factor from vae_decoder/config.json', async () => {
    const dir = await writeTinySd(join(images.root, 'scale'), { scalingFactor: 0.5 });
    const a = await generate(await loadedRunner(dir), { prompt: 'a cat', seed: 8 });
    const b = await generate(await loadedRunner(base), { prompt: 'a cat', seed: 8 });
    expect(await meanAbsDiff(png(a), png(b))).toBeGreaterThan(0.5);
  });
});

describe('image runner: bad input', () => {
  let runner: ImageRunner;
  beforeAll(async () => {
    runner = await loadedRunner(base);
  });

  const cases: Array<[string, Json, 'INVALID_INPUT' | 'PROMPT_TOO_LONG', Record<string, Json>]> = [
    ['empty prompt', { prompt: '' }, 'INVALID_INPUT', { option: 'prompt' }],
    ['blank prompt', { prompt: '   ' }, 'INVALID_INPUT', { option: 'prompt' }],
    ['no prompt', { width: 64 }, 'INVALID_INPUT', { option: 'prompt' }],
    ['over-long prompt', { prompt: 'x'.repeat(201) }, 'PROMPT_TOO_LONG', { option: 'prompt', given: 201, allowed: 200 }],
    ['over-long negative prompt', { prompt: 'a cat', negativePrompt: 'y'.repeat(250) }, 'PROMPT_TOO_LONG', { option: 'negativePrompt', given: 250, allowed: 200 }],
    ['width not a multiple of 8', { prompt: 'a cat', width: 100 }, 'INVALID_INPUT', { option: 'width', given: 100, allowed: '32–256, multiple of 8' }],
    ['width too small', { prompt: 'a cat', width: 24 }, 'INVALID_INPUT', { option: 'width', given: 24, allowed: '32–256, multiple of 8' }],
    ['height too large', { prompt: 'a cat', height: 264 }, 'INVALID_INPUT', { option: 'height', given: 264, allowed: '32–256, multiple of 8' }],
    ['height not a number', { prompt: 'a cat', height: '64' }, 'INVALID_INPUT', { option: 'height', given: '64' }],
    ['zero steps', { prompt: 'a cat', steps: 0 }, 'INVALID_INPUT', { option: 'steps', given: 0, allowed: '1–60' }],
    ['too many steps', { prompt: 'a cat', steps: 61 }, 'INVALID_INPUT', { option: 'steps', given: 61, allowed: '1–60' }],
    ['fractional steps', { prompt: 'a cat', steps: 2.5 }, 'INVALID_INPUT', { option: 'steps', given: 2.5 }],
    ['lcm beyond its schedule', { prompt: 'a cat', steps: 55, scheduler: 'lcm' }, 'INVALID_INPUT', { field: 'steps', given: 55, max: 50 }],
    ['unknown scheduler', { prompt: 'a cat', scheduler: 'heun' }, 'INVALID_INPUT', { option: 'scheduler', given: 'heun' }],
    ['negative guidance', { prompt: 'a cat', guidance: -1 }, 'INVALID_INPUT', { option: 'guidance', given: -1, allowed: '0–30' }],
    ['guidance too high', { prompt: 'a cat', guidance: 31 }, 'INVALID_INPUT', { option: 'guidance', given: 31, allowed: '0–30' }],
    ['negative seed', { prompt: 'a cat', seed: -1 }, 'INVALID_INPUT', { option: 'seed', given: -1, allowed: '0–4294967295' }],
    ['seed past 2^32-1', { prompt: 'a cat', seed: 2 ** 32 }, 'INVALID_INPUT', { option: 'seed', given: 2 ** 32 }],
    ['fractional seed', { prompt: 'a cat', seed: 1.5 }, 'INVALID_INPUT', { option: 'seed', given: 1.5 }],
    ['payload not an object', 'a cat', 'INVALID_INPUT', { option: 'payload' }],
  ];

  it.each(cases)('%s → %s with the facts', async (_name, payload, code, facts) => {
    const e = await rejection(runner.begin({ id: `bad-${++badJobs}`, kind: 'image', model: 'image', userId: 'u', payload }));
    assert(e.is(code));
    expect(e.facts).toMatchObject(facts);
    expect(e.facts.given !== undefined || e.facts.option === 'prompt').toBe(true);
  });

  it('names what was given and what is allowed in the message', async () => {
    const steps = await rejection(runner.begin({ id: 'msg-1', kind: 'image', model: 'image', userId: 'u', payload: { prompt: 'a cat', steps: 80 } }));
    expect(steps.message).toBe('steps must be a whole number from 1 to 60; got 80');
    const sched = await rejection(runner.begin({ id: 'msg-2', kind: 'image', model: 'image', userId: 'u', payload: { prompt: 'a cat', scheduler: 'heun' } }));
    expect(sched.message).toContain('euler, euler_a, dpmpp_2m, dpmpp_2m_karras, ddim, lcm, unipc, default');
    assert(sched.is('INVALID_INPUT'));
    expect(sched.facts.allowed).toEqual(['euler', 'euler_a', 'dpmpp_2m', 'dpmpp_2m_karras', 'ddim', 'lcm', 'unipc', 'default']);
    const width = await rejection(runner.begin({ id: 'msg-3', kind: 'image', model: 'image', userId: 'u', payload: { prompt: 'a cat', width: 100 } }));
    expect(width.message).toBe('width must be a multiple of 8 from 32 to 256; got 100');
  });
});

describe('image runner: model folder problems', () => {
  async function copyOf(name: string): Promise<string> {
    return writeTinySd(join(images.root, name));
  }

  it('missing unet → MODEL_MISSING naming the file', async () => {
    const dir = await copyOf('no-unet');
    await rm(join(dir, 'unet', 'model.onnx'));
    const r = new ImageRunner(settings(dir), { logger: memoryLogger() });
    images.track(r);
    const e = await rejection(r.load());
    assert(e.is('MODEL_MISSING'));
    expect(String(e.facts.file)).toBe(join(dir, 'unet', 'model.onnx'));
    expect(e.message).toContain('unet/model.onnx');
    // A job on it hears why the model is not loaded: the load's own error, not a vaguer one.
    const job = await rejection(r.begin({ id: 'x', kind: 'image', model: 'image', userId: 'u', payload: { prompt: 'a' } }));
    expect(job).toMatchObject({ code: 'RUNNER_FAILED', message: expect.stringContaining('unet/model.onnx'), facts: { loadError: { code: 'MODEL_MISSING' } } });
  });

  it('missing folder, tokenizer or scheduler config → MODEL_MISSING', async () => {
    const noDir = await rejection(new ImageRunner(settings(join(images.root, 'nowhere')), { logger: memoryLogger() }).load());
    assert(noDir.is('MODEL_MISSING'));
    expect(noDir.facts.file).toBe(join(images.root, 'nowhere'));

    const dir = await copyOf('no-tokenizer');
    await rm(join(dir, 'tokenizer', 'merges.txt')); // vocab.json alone is not a tokenizer
    const tok = await rejection(new ImageRunner(settings(dir), { logger: memoryLogger() }).load());
    assert(tok.is('MODEL_MISSING'));
    expect(tok.facts.expected).toBe('tokenizer.json, or vocab.json and merges.txt');

    await rm(join(dir, 'scheduler', 'scheduler_config.json'));
    const sched = await rejection(new ImageRunner(settings(dir), { logger: memoryLogger() }).load());
    assert(sched.is('MODEL_MISSING'));
    expect(String(sched.facts.file)).toContain('scheduler_config.json');
  });

  it('a unet with the wrong inputs → MODEL_INVALID naming the file and the expected input', async () => {
    const dir = await copyOf('wrong-unet');
    await copyFile(join(dir, 'vae_decoder', 'model.onnx'), join(dir, 'unet', 'model.onnx'));
    const e = await rejection(new ImageRunner(settings(dir), { logger: memoryLogger() }).load());
    assert(e.is('MODEL_INVALID'));
    expect(e.facts.file).toBe(join(dir, 'unet', 'model.onnx'));
    expect(e.facts.expected).toBe('input sample');
    expect(e.message).toContain('latent_sample');
  });

  it('a text encoder of another width → MODEL_INVALID', async () => {
    const dir = await copyOf('mixed');
    const other = await writeTinySd(join(images.root, 'narrow'), { hidden: 16 });
    await copyFile(join(other, 'text_encoder', 'model.onnx'), join(dir, 'text_encoder', 'model.onnx'));
    const e = await rejection(new ImageRunner(settings(dir), { logger: memoryLogger() }).load());
    assert(e.is('MODEL_INVALID'));
    expect(e.message).toContain('different models');
    expect(e.facts.expected).toBe('encoder_hidden_states width 16');
  });

  it('an unreadable ONNX file or config → MODEL_INVALID', async () => {
    const dir = await copyOf('corrupt');
    await writeFile(join(dir, 'vae_decoder', 'model.onnx'), 'not a model');
    const onnx = await rejection(new ImageRunner(settings(dir), { logger: memoryLogger() }).load());
    assert(onnx.is('MODEL_INVALID'));
    expect(onnx.facts.file).toBe(join(dir, 'vae_decoder', 'model.onnx'));

    await writeFile(join(dir, 'scheduler', 'scheduler_config.json'), JSON.stringify({ beta_schedule: 'cosine' }));
    const cfg = await rejection(new ImageRunner(settings(dir), { logger: memoryLogger() }).load());
    expect(cfg.code).toBe('MODEL_INVALID');
    expect(cfg.message).toContain('beta_schedule');
  });
});

describe('image runner: providers and lifecycle', () => {
  it('falls back to the CPU with a logged reason when CUDA cannot run, and reports the provider', async () => {
    const logger = memoryLogger();
    const r = await loadedRunner(base, { providers: ['cuda', 'cpu'] }, logger);
    const report = detectOrtProviders();
    expect(report.bindingDir).toMatch(/onnxruntime-node/);
    if (!report.cudaLibrariesPresent) {
      expect(r.activeProvider()).toBe('cpu');
      expect(logger.lines.some((l) => l.startsWith('warn') && l.includes('libonnxruntime_providers_cuda') && l.includes('npm rebuild onnxruntime-node'))).toBe(true);
      const only = await rejection(new ImageRunner(settings(base, { providers: ['cuda'] }), { logger }).load());
      expect(only.code).toBe('RUNNER_FAILED');
      expect(only.message).toContain('add cpu to the providers');
    } else {
      expect(['cuda', 'cpu']).toContain(r.activeProvider());
    }
  });

  it('estimates VRAM from the file sizes, honours a configured figure, and disposes twice', async () => {
    const r = new ImageRunner(settings(base), { logger: memoryLogger() });
    let files = 0;
    for (const f of ['text_encoder', 'unet', 'vae_decoder']) files += (await readFile(join(base, f, 'model.onnx'))).length;
    const estimate = await r.vramBytes();
    expect(estimate).toBeGreaterThan(files);
    expect(await new ImageRunner(settings(base, { vramMB: 3000 })).vramBytes()).toBe(3000 * 2 ** 20);
    // Before the folder exists: a typical SD 1.5 export's figure, not an error (load reports the folder).
    expect(await new ImageRunner(settings(join(images.root, 'not-yet'))).vramBytes()).toBeGreaterThan(2e9);
    await expect(r.load({ signal: AbortSignal.abort(new HearthError('RUNNER_FAILED', 'stop')) })).rejects.toThrow('stop');
    expect(r.activeProvider()).toBeNull();
    await r.load();
    expect(r.activeProvider()).toBe('cpu');
    await r.dispose();
    await r.dispose();
    expect(r.activeProvider()).toBeNull();
    await expect(r.begin({ id: 'z', kind: 'image', model: 'image', userId: 'u', payload: { prompt: 'a' } })).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
  });
});
