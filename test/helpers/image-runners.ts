/**
 * Real ImageRunners (onnxruntime-node on the CPU) on tiny exports the tests write, for the image runner
 * tests that go end to end (scheduler configs, SDXL): a temporary folder for the exports, runners
 * loaded on them and disposed after the file, and a job run step by step to its result.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll } from 'vitest';
import { HearthError, type JobEvent, type JobResult, type Json } from '../../src/engine/types.js';
import { ImageRunner, type ImageRunnerLogger } from '../../src/runners/image/image-runner.js';
import type { ImageDefaults, ImageRunnerSettings } from '../../src/runners/image/settings.js';

/** An image job run to its end: its result, the steps it was begun with and the events it emitted. */
export interface ImageRun {
  result: JobResult;
  steps: number;
  events: JobEvent[];
}

export interface TinyImageRunners {
  /** The file's temporary folder (set once its beforeAll has run). */
  readonly root: string;
  /** Runner settings for an export folder: the file's defaults, limits a test can reach; `over` replaces fields. */
  settings(dir: string, over?: Partial<ImageRunnerSettings>): ImageRunnerSettings;
  /** A loaded runner on `dir`, disposed after the file. */
  runnerFor(dir: string, over?: Partial<ImageRunnerSettings>, logger?: ImageRunnerLogger): Promise<ImageRunner>;
  /** Disposes `runner` after the file (for a runner a test makes itself, e.g. to see its load fail). */
  track(runner: ImageRunner): ImageRunner;
  /** Runs one image job on `runner`, step by step, to its result (a failure throws its HearthError). */
  generate(runner: ImageRunner, payload: Json): Promise<JobResult>;
  /** The same, with the steps and the job's events. */
  run(runner: ImageRunner, payload: Json): Promise<ImageRun>;
}

const QUIET: ImageRunnerLogger = { info: () => undefined, warn: () => undefined };

/**
 * Registers the file's beforeAll/afterAll (temporary folder, runners disposed) and returns the helpers.
 * `defaults` are the runners' defaults over 32² at 4 steps, the model's own sampler, no negative prompt;
 * `nativeSize` leaves the size out, so the model's own (unet/config.json) is the default.
 */
export function tinyImageRunners(prefix: string, opts: Partial<ImageDefaults> & { nativeSize?: boolean } = {}): TinyImageRunners {
  const { nativeSize = false, ...defaults } = opts;
  const size = nativeSize ? {} : { width: 32, height: 32 };
  let root = '';
  const runners: ImageRunner[] = [];
  let seq = 0;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    for (const r of runners) await r.dispose();
    if (root) await rm(root, { recursive: true, force: true });
  });
  const settings = (dir: string, over: Partial<ImageRunnerSettings> = {}): ImageRunnerSettings => ({
    model: 'image',
    dir,
    providers: ['cpu'],
    defaults: { ...size, steps: 4, guidance: 7.5, scheduler: 'default', negativePrompt: '', ...defaults },
    limits: { minSize: 32, maxSize: 256, maxSteps: 60, maxPromptChars: 200 },
    previewEvery: 0,
    threads: 1,
    ...over,
  });
  const track = (r: ImageRunner): ImageRunner => {
    runners.push(r);
    return r;
  };
  const run = async (runner: ImageRunner, payload: Json): Promise<ImageRun> => {
    const id = `job-${++seq}`;
    const { steps } = await runner.begin({ id, kind: 'image', model: 'image', userId: 'u1', payload });
    const events: JobEvent[] = [];
    for (let i = 0; i < steps; i++) {
      const [out] = await runner.step([id], { emit: (jobId, e) => (jobId === id ? events.push(e) : undefined) });
      if (out?.failed) throw HearthError.from(out.failed);
      if (out?.done) return { result: out.done, steps, events };
    }
    throw new Error(`no result after ${steps} steps`);
  };
  return {
    get root() {
      return root;
    },
    settings,
    async runnerFor(dir, over = {}, logger = QUIET) {
      const r = track(new ImageRunner(settings(dir, over), { logger }));
      await r.load();
      return r;
    },
    track,
    run,
    generate: async (runner, payload) => (await run(runner, payload)).result,
  };
}
/** The PNG bytes of an image job's result (throws when there is none). */
export function pngOf(result: JobResult): Buffer {
  const p = result.image?.png;
  if (!p) throw new Error('no image');
  return Buffer.from(p);
}

/**
 * How far apart two pictures of the same size are: the mean absolute difference of their 8-bit RGB
 * values (0 the same, 255 opposite). Throws when their sizes differ.
 */
export async function pixelDistance(a: Uint8Array, b: Uint8Array): Promise<number> {
  const [pa, pb] = await Promise.all([sharp(a).removeAlpha().raw().toBuffer(), sharp(b).removeAlpha().raw().toBuffer()]);
  if (pa.length !== pb.length) throw new Error(`the pictures differ in size (${pa.length} and ${pb.length} RGB values)`);
  let s = 0;
  for (let i = 0; i < pa.length; i++) s += Math.abs((pa[i] as number) - (pb[i] as number));
  return s / pa.length;
}

/** A smooth picture (gradients of every channel), as a photo's colours would be: away from pure black and white. */
export async function smoothPicture(width: number, height: number, format: 'png' | 'jpeg' = 'png'): Promise<Buffer> {
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      rgb[i] = 60 + Math.round((140 * x) / width);
      rgb[i + 1] = 190 - Math.round((120 * y) / height);
      rgb[i + 2] = 90 + Math.round(60 * Math.sin(x / 9));
    }
  }
  const img = sharp(rgb, { raw: { width, height, channels: 3 } });
  return format === 'png' ? img.png().toBuffer() : img.jpeg({ quality: 95 }).toBuffer();
}
