/**
 * bench/image (SDXL case): UNet steps per second of an SDXL-shaped export (test/fixtures/tiny-sdxl.ts:
 * optimum's names, two text encoders, the UNet's added text_embeds and time_ids) at SDXL's native
 * 1024×1024 (128×128 latents, batch 2 for guidance), through hearth's ImageRunner vs a bare loop
 * calling the same ONNX sessions on the caller's thread (both text encoders once, the penultimate
 * layers concatenated, the UNet per step with the pooled embedding and the six time ids, the VAE once,
 * its output to a PNG as hearth delivers it: bench/bare-png.ts).
 * Same files, same thread count, runs alternated; the headline compares the best run of each path.
 *
 * Run: npx tsx bench/image.ts (prints this case after the SD one), or npx tsx bench/image-sdxl.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ort from 'onnxruntime-node';
import { ImageRunner } from '../src/runners/image/image-runner.js';
import { writeTinySdxl } from '../test/fixtures/tiny-sdxl.js';
import { barePng } from './bare-png.js';
import { alternate, measure, pathRow, ratioRow, TABLE_HEAD, throughRunner, type Sample } from './image-timing.js';

const SIZE = 1024;
const STEPS = 20;
const REPS = 7;
/** 64-channel 3×3 convs at 128×128 latents: about as much work per step as the SD case's 128 channels at 64×64. */
const UNET = { unetChannels: 64, unetLayers: 4 };
/** The fixture's text encoders have 3 layers: SDXL reads the penultimate one. */
const PENULTIMATE = 'hidden_states.2';

/** The bare SDXL loop: what calling onnxruntime-node yourself costs for one guided image. */
async function bareLoop(dir: string, threads: number): Promise<() => Promise<Sample>> {
  const opts: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1, logSeverityLevel: 3 };
  const te = await ort.InferenceSession.create(join(dir, 'text_encoder', 'model.onnx'), opts);
  const te2 = await ort.InferenceSession.create(join(dir, 'text_encoder_2', 'model.onnx'), opts);
  const unet = await ort.InferenceSession.create(join(dir, 'unet', 'model.onnx'), opts);
  const vae = await ort.InferenceSession.create(join(dir, 'vae_decoder', 'model.onnx'), opts);
  const h = SIZE / 8;
  const ids = new ort.Tensor('int64', new BigInt64Array(2 * 77).fill(300n), [2, 77]);
  const timeIds = new ort.Tensor('float32', Float32Array.from([SIZE, SIZE, 0, 0, SIZE, SIZE, SIZE, SIZE, 0, 0, SIZE, SIZE]), [2, 6]);
  const latents = new Float32Array(4 * h * h).map((_, i) => Math.sin(i));
  return () =>
    measure(STEPS, async () => {
      const h1 = (await te.run({ input_ids: ids }, [PENULTIMATE]))[PENULTIMATE] as ort.Tensor;
      const out2 = await te2.run({ input_ids: ids }, [PENULTIMATE, 'text_embeds']);
      const h2 = out2[PENULTIMATE] as ort.Tensor;
      const [w1, w2] = [h1.dims[2] as number, h2.dims[2] as number];
      const a = h1.data as Float32Array;
      const b = h2.data as Float32Array;
      const cat = new Float32Array(2 * 77 * (w1 + w2));
      for (let r = 0; r < 2 * 77; r++) {
        cat.set(a.subarray(r * w1, (r + 1) * w1), r * (w1 + w2));
        cat.set(b.subarray(r * w2, (r + 1) * w2), r * (w1 + w2) + w1);
      }
      const hidden = new ort.Tensor('float32', cat, [2, 77, w1 + w2]);
      const pooled = out2.text_embeds as ort.Tensor;
      let sample: Float32Array = latents;
      for (let i = 0; i < STEPS; i++) {
        const batch = new Float32Array(sample.length * 2);
        batch.set(sample);
        batch.set(sample, sample.length);
        const out = await unet.run({
          sample: new ort.Tensor('float32', batch, [2, 4, h, h]),
          timestep: new ort.Tensor('float32', new Float32Array([999 - i * 50]), []),
          encoder_hidden_states: hidden,
          text_embeds: pooled,
          time_ids: timeIds,
        });
        const both = (out.out_sample as ort.Tensor).data as Float32Array;
        sample = both.subarray(0, both.length / 2);
      }
      const decoded = await vae.run({ latent_sample: new ort.Tensor('float32', new Float32Array(sample), [1, 4, h, h]) });
      await barePng(decoded.sample as ort.Tensor);
    });
}

export async function runSdxlBench(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'hearth-bench-sdxl-'));
  const threads = availableParallelism();
  const dir = join(root, 'sdxl');
  const runner = new ImageRunner(
    {
      model: 'image',
      dir,
      providers: ['cpu'],
      defaults: { steps: STEPS, guidance: 7.5, scheduler: 'euler', negativePrompt: '' },
      limits: { minSize: 512, maxSize: 1024, maxSteps: 50, maxPromptChars: 1000 },
      previewEvery: 0,
      threads,
    },
    { logger: { info: () => undefined, warn: (m) => console.error(m) } },
  );
  try {
    await writeTinySdxl(dir, { sampleSize: SIZE / 8, ...UNET });
    const bare = await bareLoop(dir, threads);
    await runner.load();
    const hearth = throughRunner(runner, { size: SIZE, steps: STEPS, idPrefix: 'sdxl' });
    const [b = [], r = []] = await alternate([bare, hearth], REPS);
    return [
      `SDXL-shaped export at ${SIZE}×${SIZE} (128×128 latents, batch 2 for guidance), ${STEPS} steps, two text encoders, ` +
        `UNet with text_embeds and time_ids, ${UNET.unetLayers + 2} 3×3 convs ${UNET.unetChannels} channels wide, CPU provider, ${threads} threads; ` +
        `${REPS} alternated runs of each after a warm-up.`,
      '',
      ...TABLE_HEAD,
      pathRow("bare onnxruntime-node loop (session.run on the caller's thread, PNG)", b, 3),
      pathRow('hearth ImageRunner (worker thread, scheduler, guidance, PNG)', r, 3),
      ratioRow('hearth / bare (target ≥ 0.95)', r, b, true),
    ].join('\n');
  } finally {
    await runner.dispose();
    await rm(root, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(await runSdxlBench());
}
