/**
 * bench/image: UNet steps per second through hearth's ImageRunner (worker thread, scheduler math,
 * guidance, PNG) vs a bare loop calling the same ONNX sessions directly (`session.run` on this
 * thread: text encoder once, the UNet per step, the VAE once, its output to a PNG as hearth delivers
 * it: bench/bare-png.ts). Same model files, same thread count,
 * runs alternated. Other work on the machine only ever adds time, so the headline compares the best
 * run of each path; medians are shown beside it. A third path runs the same bare loop inside a worker
 * thread, to show what the thread itself costs (the image runner needs one: `session.run` blocks).
 *
 * The UNet is the fixture's heavy variant (128-channel 3×3 convs at 64×64 latents, batch 2 for
 * guidance) so its work dominates, as a real UNet's does (SD 1.5 on the reference card takes about 50 ms
 * per guided step; this one takes about as long on 2 CPU cores).
 *
 * bench/image-sdxl.ts is the same comparison on an SDXL-shaped export at 1024×1024, printed after this one.
 *
 * Run: npx tsx bench/image.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { Engine } from '../src/engine/engine.js';
import { InProcessExecutor } from '../src/engine/executor/in-process-executor.js';
import { FifoScheduler } from '../src/engine/scheduler/fifo-scheduler.js';
import type { SchedulerPolicy } from '../src/engine/scheduler/policy.js';
import { VirtualTimeScheduler } from '../src/engine/scheduler/virtual-time-scheduler.js';
import { SqliteStore } from '../src/engine/store/sqlite-store.js';
import { ImageRunner } from '../src/runners/image/image-runner.js';
import { SimRunner } from '../test/fixtures/sim-runner.js';
import { writeTinySd } from '../test/fixtures/tiny-sd.js';
import { runSdxlBench } from './image-sdxl.js';
import { BARE_PNG_CJS, barePng } from './bare-png.js';
import { alternate, measure, pathRow, ratioRow, TABLE_HEAD, throughRunner, type Sample } from './image-timing.js';

const SIZE = 512;
const STEPS = 25;
const REPS = 7;
const UNET = { unetChannels: 128, unetLayers: 4 };

/** The bare loop: what calling onnxruntime-node yourself costs for one image. */
async function bareLoop(dir: string, threads: number): Promise<() => Promise<Sample>> {
  const opts: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    logSeverityLevel: 3,
  };
  const te = await ort.InferenceSession.create(join(dir, 'text_encoder', 'model.onnx'), opts);
  const unet = await ort.InferenceSession.create(join(dir, 'unet', 'model.onnx'), opts);
  const vae = await ort.InferenceSession.create(join(dir, 'vae_decoder', 'model.onnx'), opts);
  const h = SIZE / 8;
  const ids = new Int32Array(2 * 77).fill(537);
  const latents = new Float32Array(4 * h * h).map((_, i) => Math.sin(i));
  return () =>
    measure(STEPS, async () => {
      const hidden = (await te.run({ input_ids: new ort.Tensor('int32', ids, [2, 77]) })).last_hidden_state as ort.Tensor;
      let sample: Float32Array = latents;
      for (let i = 0; i < STEPS; i++) {
        const batch = new Float32Array(sample.length * 2);
        batch.set(sample);
        batch.set(sample, sample.length);
        const out = await unet.run({
          sample: new ort.Tensor('float32', batch, [2, 4, h, h]),
          timestep: new ort.Tensor('float32', new Float32Array([999 - i * 50]), [1]),
          encoder_hidden_states: hidden,
        });
        const both = (out.out_sample as ort.Tensor).data as Float32Array;
        sample = both.subarray(0, both.length / 2);
      }
      const decoded = await vae.run({ latent_sample: new ort.Tensor('float32', new Float32Array(sample), [1, 4, h, h]) });
      await barePng(decoded.sample as ort.Tensor);
    });
}

/** The bare loop again, in plain JavaScript inside a worker thread (a CommonJS eval worker). */
const WORKER_LOOP = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
const sharp = require(workerData.sharpPath);
const { dir, threads, steps, size } = workerData;
${BARE_PNG_CJS}
(async () => {
  const opts = { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1, logSeverityLevel: 3 };
  const te = await ort.InferenceSession.create(dir + '/text_encoder/model.onnx', opts);
  const unet = await ort.InferenceSession.create(dir + '/unet/model.onnx', opts);
  const vae = await ort.InferenceSession.create(dir + '/vae_decoder/model.onnx', opts);
  const h = size / 8;
  const ids = new Int32Array(2 * 77).fill(537);
  const latents = new Float32Array(4 * h * h).map((_, i) => Math.sin(i));
  parentPort.on('message', async () => {
    const hidden = (await te.run({ input_ids: new ort.Tensor('int32', ids, [2, 77]) })).last_hidden_state;
    let sample = latents;
    for (let i = 0; i < steps; i++) {
      const batch = new Float32Array(sample.length * 2);
      batch.set(sample);
      batch.set(sample, sample.length);
      const out = await unet.run({
        sample: new ort.Tensor('float32', batch, [2, 4, h, h]),
        timestep: new ort.Tensor('float32', new Float32Array([999 - i * 50]), [1]),
        encoder_hidden_states: hidden,
      });
      const both = out.out_sample.data;
      sample = both.subarray(0, both.length / 2);
    }
    const decoded = await vae.run({ latent_sample: new ort.Tensor('float32', new Float32Array(sample), [1, 4, h, h]) });
    await barePng(decoded.sample, sharp);
    parentPort.postMessage('done');
  });
  parentPort.postMessage('ready');
})();
`;

async function bareLoopInWorker(dir: string, threads: number): Promise<{ run: () => Promise<Sample>; stop: () => Promise<number> }> {
  const require = createRequire(import.meta.url);
  const ortPath = require.resolve('onnxruntime-node');
  const sharpPath = require.resolve('sharp');
  const worker = new Worker(WORKER_LOOP, { eval: true, workerData: { ortPath, sharpPath, dir, threads, steps: STEPS, size: SIZE } });
  const next = (): Promise<unknown> =>
    new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  await next();
  return {
    run: () =>
      measure(STEPS, async () => {
        const done = next();
        worker.postMessage('go');
        await done;
      }),
    stop: () => worker.terminate(),
  };
}

export async function runImageBench(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'hearth-bench-image-'));
  const threads = availableParallelism();
  const runner = new ImageRunner(
    {
      model: 'image',
      dir: join(root, 'sd'),
      providers: ['cpu'],
      defaults: { width: SIZE, height: SIZE, steps: STEPS, guidance: 7.5, scheduler: 'euler', negativePrompt: '' },
      limits: { minSize: 64, maxSize: 1024, maxSteps: 50, maxPromptChars: 1000 },
      previewEvery: 0,
      threads,
    },
    { logger: { info: () => undefined, warn: (m) => console.error(m) } },
  );
  try {
    const dir = await writeTinySd(join(root, 'sd'), UNET);
    const bare = await bareLoop(dir, threads);
    const inWorker = await bareLoopInWorker(dir, threads);
    await runner.load();
    const hearth = throughRunner(runner, { size: SIZE, steps: STEPS, idPrefix: 'bench' });
    const [b = [], w = [], r = []] = await alternate([bare, () => inWorker.run(), hearth], REPS);
    await inWorker.stop();
    return [
      `${SIZE}×${SIZE} image (64×64 latents, batch 2 for guidance), ${STEPS} steps, UNet of ${UNET.unetLayers + 2} 3×3 convs ` +
        `${UNET.unetChannels} channels wide, CPU provider, ${threads} threads; ${REPS} alternated runs of each after a warm-up.`,
      '',
      ...TABLE_HEAD,
      pathRow("bare onnxruntime-node loop (session.run on the caller's thread, PNG)", b, 2),
      pathRow('the same bare loop inside a worker thread', w, 2),
      pathRow('hearth ImageRunner (worker thread, scheduler, guidance, PNG)', r, 2),
      ratioRow('bare in a worker thread / bare', w, b),
      ratioRow("hearth / bare in a worker thread (hearth's own code)", r, w),
      ratioRow('hearth / bare (target ≥ 0.95)', r, b, true),
    ].join('\n');
  } finally {
    await runner.dispose();
    await rm(root, { recursive: true, force: true });
  }
}

const FLOOD_IMAGES = 10;
const FLOOD_STEPS = 10;

/**
 * A chat that arrives during a 10-image flood: the real ImageRunner (the heavy fixture UNet at
 * 512×512) behind the real Engine, with a simulated chat model (20 ms decode steps), once with hearth's
 * scheduler and once FIFO. Wall-clock wait from the chat's submission to its start and to its answer.
 */
async function floodWait(dir: string, threads: number, policy: SchedulerPolicy): Promise<{ start: number; answer: number; imageStep: number }> {
  const image = new ImageRunner(
    {
      model: 'image',
      dir,
      providers: ['cpu'],
      defaults: { width: SIZE, height: SIZE, steps: FLOOD_STEPS, guidance: 7.5, scheduler: 'euler', negativePrompt: '' },
      limits: { minSize: 64, maxSize: 1024, maxSteps: 50, maxPromptChars: 1000 },
      previewEvery: 0,
      threads,
    },
    { logger: { info: () => undefined, warn: (m) => console.error(m) } },
  );
  const chat = new SimRunner({ model: 'chat', kind: 'chat', stepMs: 20, maxBatch: 4 }, { sleep: (ms) => new Promise((r) => setTimeout(r, ms)) });
  const store = SqliteStore.open(':memory:');
  const engine = new Engine({ store, executor: new InProcessExecutor([image, chat]), vramBudgetBytes: 100e9, limits: { maxQueuedPerUser: 100 }, policy });
  await engine.start();
  try {
    for (let i = 0; i < FLOOD_IMAGES; i++) {
      engine.submit({ kind: 'image', model: 'image', userId: 'flood', payload: { prompt: 'a photo of a cat', steps: FLOOD_STEPS, seed: i }, estimatedSteps: FLOOD_STEPS + 2 });
    }
    let submittedAt = 0;
    let startedAt = 0;
    let answeredAt = 0;
    let chatId = '';
    let progress = 0;
    let firstStepAt = 0;
    const done = new Promise<void>((resolve) => {
      engine.on((e) => {
        if (e.event.type === 'progress' && e.userId === 'flood') {
          progress++;
          if (progress === 1) firstStepAt = performance.now();
          // Mid-flood: the second image is under way.
          if (progress === FLOOD_STEPS + 3 && !chatId) {
            submittedAt = performance.now();
            const r = engine.submit({ kind: 'chat', model: 'chat', userId: 'asker', payload: { steps: 8 }, estimatedSteps: 8 });
            if (r.ok) chatId = r.value.id;
          }
        }
        if (e.jobId === chatId && e.event.type === 'started') startedAt = performance.now();
        if (e.jobId === chatId && e.event.type === 'result') {
          answeredAt = performance.now();
          resolve();
        }
      });
    });
    await done;
    const imageStep = (submittedAt - firstStepAt) / (FLOOD_STEPS + 2) / 1000;
    return { start: (startedAt - submittedAt) / 1000, answer: (answeredAt - submittedAt) / 1000, imageStep };
  } finally {
    await engine.close();
    store.close();
  }
}

export async function runFloodBench(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'hearth-bench-flood-'));
  const threads = availableParallelism();
  try {
    const dir = await writeTinySd(join(root, 'sd'), UNET);
    const hearth = await floodWait(dir, threads, new VirtualTimeScheduler());
    const fifo = await floodWait(dir, threads, new FifoScheduler());
    return [
      `A chat (8 simulated 20 ms decode steps) sent while one user's ${FLOOD_IMAGES} images of ${FLOOD_STEPS} steps ` +
        `(${SIZE}×${SIZE}, the heavy fixture UNet, real ImageRunner; about ${hearth.imageStep.toFixed(2)} s per image step here) are queued, ` +
        'through the real Engine; wall-clock seconds from sending the chat.',
      '',
      '| | hearth | FIFO | hearth / FIFO |',
      '|---|---:|---:|---:|',
      `| chat starts after (s) | ${hearth.start.toFixed(2)} | ${fifo.start.toFixed(2)} | ${(hearth.start / fifo.start).toFixed(3)} |`,
      `| chat answered after (s) | ${hearth.answer.toFixed(2)} | ${fifo.answer.toFixed(2)} | ${(hearth.answer / fifo.answer).toFixed(3)} |`,
    ].join('\n');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(await runImageBench());
  console.log();
  console.log(await runSdxlBench());
  console.log();
  console.log(await runFloodBench());
}
