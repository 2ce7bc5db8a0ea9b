/**
 * /imagine: Stable Diffusion on ONNX Runtime. One job is a sequence of steps, one UNet evaluation
 * each (the first also encodes the prompt, the last also decodes and writes the PNG), so the engine
 * can run other users' work between two steps of an image.
 */
import { randomInt } from 'node:crypto';
import type { Runner, RunnerJob, StepOptions, StepOutput } from '../../engine/runner.js';
import { HearthError, toErrorInfo, type JobEvent, type JobResult } from '../../engine/types.js';
import { RunnerLifecycle, type LoadContext } from '../lifecycle.js';
import { ClipTokenizer, CLIP_LENGTH } from './clip-tokenizer.js';
import { estimateVramBytes, inspectModelFolder, type ModelFolder } from './model-folder.js';
import type { PipelineIo } from './model-io.js';
import { OrtWorkerClient } from './ort-client.js';
import { rgbToPng } from './png.js';
import { latentPreviewPng } from './preview.js';
import { CUDA_INSTALL_HINT, detectOrtProviders } from './providers.js';
import type { Shape4, XlEncode } from './protocol.js';
import { validateImagePayload, type ImageRequest } from './request.js';
import { initImagePixels, initLatents, img2imgStart, DEFAULT_INIT_IMAGE_LIMITS, type InitImageLimits } from './init-image.js';
import { checkStaticShape, nonFiniteError, requireVaeEncoder, xlEncode } from './job-setup.js';
import { readImageModelProfile } from './model-profile.js';
import { imageModelRules, type ImageModelRules } from '../../jobs/image-model.js';
import { ABORTED, unlessAborted } from './abortable.js';
import { Rng } from './rng.js';
import { createScheduler, defaultSchedulerFor, type Scheduler, type SchedulerName } from './schedulers/index.js';
import type { ImageProvider, ImageRunnerSettings } from './settings.js';

export { guide } from './guidance.js';

/** Where the runner reports load decisions (provider fallback). pino's Logger fits. */
export interface ImageRunnerLogger {
  info(message: string): void;
  warn(message: string): void;
}

export interface ImageRunnerOptions {
  logger?: ImageRunnerLogger;
  /** Seed source for payloads without one. Default: crypto.randomInt over 0..2^32−1. */
  randomSeed?: () => number;
}

interface Loaded {
  folder: ModelFolder;
  tokenizer: ClipTokenizer;
  /** SDXL's tokenizer_2. */
  tokenizer2?: ClipTokenizer;
  client: OrtWorkerClient;
  provider: ImageProvider;
  io: PipelineIo;
  /** Why the export's vae_encoder cannot be used, when it cannot. */
  vaeEncoderProblem?: string;
  /** The configured limits and defaults narrowed by what the model is (SDXL sizes, Turbo steps and guidance). */
  rules: ImageModelRules;
}

interface ImageJob {
  id: string;
  /** Key of the job's text embeddings in the worker thread. */
  key: string;
  request: ImageRequest & { scheduler: SchedulerName };
  scheduler: Scheduler;
  rng: Rng;
  latents: Float32Array;
  shape: Shape4;
  /** Token ids, [uncond; cond] when guided. */
  ids: Int32Array;
  /** SDXL: tokenizer_2's ids and the time ids. */
  xl?: XlEncode;
  guided: boolean;
  truncated: boolean;
  encoded: boolean;
  /** Scheduler steps done (image-to-image counts from `start`). */
  done: number;
  /** The first scheduler step: 0, or where image-to-image starts ({@link img2imgStart}). */
  start: number;
  /** Image-to-image: the init image as the VAE encoder takes it, until the first step encodes it into the latents. */
  init?: Float32Array;
}

const consoleLogger: ImageRunnerLogger = {
  info: (m) => console.error(`[image] ${m}`),
  warn: (m) => console.error(`[image] warning: ${m}`),
};

export class ImageRunner implements Runner {
  readonly kind = 'image' as const;
  readonly maxBatch = 1;
  readonly model: string;
  private readonly settings: ImageRunnerSettings;
  private readonly logger: ImageRunnerLogger;
  private readonly randomSeed: () => number;
  /** A worker thread that stopped while loaded counts as unhealthy: the next call starts it again. */
  private readonly life: RunnerLifecycle<Loaded>;
  private readonly jobs = new Map<string, ImageJob>();
  private nextKey = 1;
  private readonly initImageLimits: InitImageLimits;

  constructor(settings: ImageRunnerSettings, options: ImageRunnerOptions = {}) {
    this.settings = settings;
    this.model = settings.model;
    this.logger = options.logger ?? consoleLogger;
    this.randomSeed = options.randomSeed ?? (() => randomInt(0, 2 ** 32));
    this.initImageLimits = {
      maxBytes: settings.maxImageBytes ?? DEFAULT_INIT_IMAGE_LIMITS.maxBytes,
      maxPixels: settings.maxImagePixels ?? DEFAULT_INIT_IMAGE_LIMITS.maxPixels,
    };
    this.life = new RunnerLifecycle<Loaded>({
      kind: 'image',
      model: this.model,
      load: (ctx) => this.doLoad(ctx),
      healthy: (loaded) => loaded.client.alive,
      warn: (m) => this.logger.warn(m),
    });
    // Jobs outlive an unload (they resume with fresh embeddings), but not the runner.
    this.life.onDispose('jobs', () => this.jobs.clear());
  }

  /** The execution provider the sessions run on, or null while not loaded (for `hearth doctor`). */
  activeProvider(): ImageProvider | null {
    return this.life.peek()?.provider ?? null;
  }

  async vramBytes(): Promise<number> {
    this.life.assertOpen();
    if (this.settings.vramMB !== undefined) return Math.round(this.settings.vramMB * 2 ** 20);
    // At the size a plain /imagine makes: the configured default, else the model's native size.
    const { width, height } = imageModelRules(this.settings, readImageModelProfile(this.settings.dir)).defaults;
    return estimateVramBytes(this.settings.dir, width, height);
  }

  /** Loads the sessions in a worker thread; concurrent calls share one load (see RunnerLifecycle). */
  async load(opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.life.load(opts);
  }

  private async doLoad({ signal, defer }: LoadContext): Promise<Loaded> {
    const aborted = (): Error =>
      signal.reason instanceof Error ? signal.reason : new HearthError('RUNNER_FAILED', 'loading the image model was aborted');
    if (signal.aborted) throw aborted();
    const folder = await inspectModelFolder(this.settings.dir);
    const tokenizer = await ClipTokenizer.load(folder.tokenizerDir);
    const tokenizer2 = folder.xl ? await ClipTokenizer.load(folder.xl.tokenizer2Dir) : undefined;
    if (signal.aborted) throw aborted();
    const providers = this.usableProviders();
    const client = new OrtWorkerClient();
    defer('ONNX Runtime worker thread', () => client.close());
    const files = {
      textEncoder: folder.textEncoder,
      unet: folder.unet,
      vaeDecoder: folder.vaeDecoder,
      ...(folder.xl ? { textEncoder2: folder.xl.textEncoder2 } : {}),
      ...(folder.vaeEncoder !== undefined ? { vaeEncoder: folder.vaeEncoder } : {}),
    };
    const threads = this.settings.threads;
    const result = await unlessAborted(client.call({ type: 'load', files, providers, ...(threads !== undefined ? { threads } : {}) }), signal);
    if (result === ABORTED) throw aborted();
    for (const w of result.warnings) this.logger.warn(`${this.model}: ${w}`);
    if (folder.forceUpcast && result.io.vae.latentType === 'float16') {
      this.logger.warn(
        `${this.model}: its VAE config says force_upcast (this VAE overflows in float16), but ${folder.vaeDecoder} takes float16, so it cannot run in float32 here: ` +
          'images may come out black; use an export with a float32 VAE (or an fp16-fixed VAE such as madebyollin/sdxl-vae-fp16-fix)',
      );
    }
    if (result.vaeEncoderProblem !== undefined) this.logger.warn(`${this.model}: image-to-image is off: ${result.vaeEncoderProblem}`);
    if (providers[0] === 'cuda' && result.provider !== 'cuda') {
      this.logger.warn(`${this.model}: running on the CPU because the CUDA execution provider could not start; see the warning above`);
    }
    this.logger.info(`${this.model}: loaded ${folder.dir} on ${result.provider}`);
    // Jobs begun before an unload resume with fresh embeddings in the new thread.
    for (const job of this.jobs.values()) job.encoded = false;
    return {
      folder,
      tokenizer,
      ...(tokenizer2 ? { tokenizer2 } : {}),
      client,
      provider: result.provider,
      io: result.io,
      ...(result.vaeEncoderProblem !== undefined ? { vaeEncoderProblem: result.vaeEncoderProblem } : {}),
      rules: imageModelRules(this.settings, readImageModelProfile(folder.dir)),
    };
  }

  /** The configured providers minus CUDA when its libraries are missing (asking for it would fail session creation). */
  private usableProviders(): ImageProvider[] {
    const wanted = this.settings.providers;
    if (!wanted.includes('cuda')) return wanted;
    const report = detectOrtProviders();
    if (report.cudaLibrariesPresent) return wanted;
    const rest = wanted.filter((p) => p !== 'cuda');
    if (rest.length === 0) {
      throw new HearthError(
        'RUNNER_FAILED',
        `the image model is configured for CUDA only, but ONNX Runtime's CUDA provider libraries are not installed in ${report.bindingDir ?? 'onnxruntime-node'}; run ${CUDA_INSTALL_HINT}, or add cpu to the providers`,
        { providers: wanted, bindingDir: report.bindingDir, hint: CUDA_INSTALL_HINT },
      );
    }
    this.logger.warn(
      `${this.model}: ONNX Runtime's CUDA provider libraries (libonnxruntime_providers_cuda) are not in ${report.bindingDir ?? 'onnxruntime-node'}; ` +
        `running on ${rest.join(', ')}. To use the GPU: ${CUDA_INSTALL_HINT}`,
    );
    return rest;
  }

  /** Stops the worker thread (waits for a load in flight). Begun jobs stay, to resume after the next load. */
  async unload(): Promise<void> {
    await this.life.unload();
  }

  async begin(job: RunnerJob, opts: { signal?: AbortSignal } = {}): Promise<{ steps: number }> {
    this.life.assertOpen();
    if (opts.signal?.aborted) throw new HearthError('RUNNER_FAILED', 'begin was aborted');
    const loaded = await this.ensureLoaded(opts.signal);
    const request = validateImagePayload(job.payload, loaded.rules, this.randomSeed);
    const schedulerName = request.scheduler === 'default' ? defaultSchedulerFor(loaded.folder.schedulerConfig) : request.scheduler;
    const scheduler = createScheduler(schedulerName, loaded.folder.schedulerConfig, request.steps);
    const guided = request.guidance > 1;
    checkStaticShape(loaded, request, guided);
    const cond = loaded.tokenizer.encode(request.prompt);
    let ids = cond.ids;
    if (guided) {
      ids = new Int32Array(2 * CLIP_LENGTH);
      ids.set(loaded.tokenizer.encode(request.negativePrompt).ids, 0);
      ids.set(cond.ids, CLIP_LENGTH);
    }
    const h = request.height / 8;
    const w = request.width / 8;
    const xl = loaded.tokenizer2 && loaded.folder.xl ? xlEncode(loaded.tokenizer2, request, guided, loaded.folder.xl.zerosForEmptyPrompt) : undefined;
    const rng = new Rng(request.seed);
    let init: Float32Array | undefined;
    let start = 0;
    if (request.initImageBase64 !== undefined) {
      requireVaeEncoder(loaded);
      init = await initImagePixels(request.initImageBase64, request.width, request.height, this.initImageLimits);
      start = img2imgStart(request.steps, request.strength ?? 1);
    }
    await this.end(job.id);
    this.jobs.set(job.id, {
      id: job.id,
      key: `${job.id}#${this.nextKey++}`,
      request: { ...request, scheduler: schedulerName },
      scheduler,
      rng,
      // Image-to-image draws its noise once the init image is encoded (the first step).
      latents: init ? new Float32Array(0) : rng.normals(4 * h * w, scheduler.initNoiseSigma),
      shape: [1, 4, h, w],
      ids,
      ...(xl ? { xl } : {}),
      guided,
      truncated: cond.truncated,
      encoded: false,
      done: start,
      start,
      ...(init ? { init } : {}),
    });
    // At least one step: with nothing to denoise (strength 0) it encodes and decodes the image.
    return { steps: Math.max(request.steps - start, 1) };
  }

  async step(jobIds: string[], opts: StepOptions): Promise<StepOutput[]> {
    // Not loaded (or disposed) rejects the whole step, as in every runner; the rest is per job.
    this.life.assertOpen();
    let loaded: Loaded;
    try {
      loaded = await this.ensureLoaded(opts.signal);
    } catch (e) {
      // Aborted while the worker thread was being restarted: nothing ran, the jobs are as they were.
      if (opts.signal?.aborted && !this.life.disposed) return jobIds.map((jobId) => ({ jobId }));
      throw e;
    }
    const out: StepOutput[] = [];
    for (const jobId of jobIds) {
      try {
        out.push(await this.stepOne(jobId, loaded, opts));
      } catch (e) {
        out.push({ jobId, failed: toErrorInfo(e) });
      }
    }
    return out;
  }

  /**
   * One UNet evaluation (plus encoding before the first, decoding after the last). On abort it
   * returns at once with the job's state as it was, so the step can be run again or the job ended.
   */
  private async stepOne(jobId: string, loaded: Loaded, { signal, emit }: StepOptions): Promise<StepOutput> {
    const job = this.jobs.get(jobId);
    if (!job) return this.life.jobNotFound(jobId);
    const { client } = loaded;
    const steps = job.request.steps;
    if (signal?.aborted) return { jobId };
    const stillCurrent = (): boolean => this.jobs.get(jobId) === job;

    if (job.init) {
      const pixels = new Float32Array(job.init);
      const r = await unlessAborted(
        client.call({ type: 'vaeEncode', pixels, shape: [1, 3, job.request.height, job.request.width] }, [pixels.buffer as ArrayBuffer]),
        signal,
      );
      if (r === ABORTED || !stillCurrent()) return { jobId };
      const { latents } = initLatents(r.latents, r.shape, loaded.folder.scalingFactor, job.rng, loaded.folder.vaeEncoder ?? 'vae_encoder/model.onnx');
      // diffusers' scheduler.add_noise at the first timestep that runs; nothing to add when none does.
      job.latents = job.start < steps ? job.scheduler.addNoise(latents, job.rng.normals(latents.length), job.start) : latents;
      delete job.init;
    }

    if (!job.encoded && job.done < steps) {
      const r = await unlessAborted(client.call({ type: 'encode', key: job.key, ids: job.ids, batch: job.guided ? 2 : 1, ...(job.xl ? { xl: job.xl } : {}) }), signal);
      if (r === ABORTED || !stillCurrent()) return { jobId };
      job.encoded = true;
    }

    if (job.done < steps) {
      const i = job.done;
      const input = job.scheduler.scaleModelInput(job.latents, i);
      // A copy goes to the worker (transferred): `input` may be the latents themselves.
      const sample = input === job.latents ? new Float32Array(input) : input;
      const timestep = job.scheduler.timesteps[i] as number;
      // Guidance is applied in the thread, on ONNX Runtime's output as it lies: only the guided half comes back.
      const call = { type: 'unet', key: job.key, sample, shape: job.shape, timestep, ...(job.guided ? { guidance: job.request.guidance } : {}) } as const;
      const noise = await unlessAborted(client.call(call, [sample.buffer as ArrayBuffer]), signal);
      if (noise === ABORTED || !stillCurrent()) return { jobId };
      const { prevSample, denoised } = job.scheduler.step(noise, i, job.latents, job.rng);
      job.latents = prevSample;
      job.done = i + 1;
      emit(jobId, { type: 'progress', step: job.done - job.start, of: steps - job.start });
      const every = this.settings.previewEvery;
      if (job.done < steps) {
        if (every > 0 && job.done % every === 0) {
          const event: JobEvent = { type: 'preview', png: await latentPreviewPng(denoised, job.shape[2], job.shape[3]), step: job.done };
          emit(jobId, event);
        }
        return { jobId };
      }
    }

    const scaled = new Float32Array(job.latents.length);
    const k = 1 / loaded.folder.scalingFactor;
    for (let j = 0; j < scaled.length; j++) scaled[j] = (job.latents[j] as number) * k;
    const decoded = await unlessAborted(client.call({ type: 'decode', latents: scaled, shape: job.shape }, [scaled.buffer]), signal);
    if (decoded === ABORTED || !stillCurrent()) return { jobId };
    const { width, height } = job.request;
    const [, channels, outH, outW] = decoded.shape;
    if (channels !== 3 || outH !== height || outW !== width) {
      throw new HearthError(
        'MODEL_INVALID',
        `${loaded.folder.vaeDecoder} decoded ${job.shape[2]}×${job.shape[3]} latents to [${decoded.shape.join(', ')}]; expected [1, 3, ${height}, ${width}]`,
        { file: loaded.folder.vaeDecoder, expected: `[1, 3, ${height}, ${width}]`, given: `[${decoded.shape.join(', ')}]` },
      );
    }
    if (decoded.nonFinite !== undefined) throw nonFiniteError(decoded.nonFinite, loaded.folder);
    const png = await rgbToPng(decoded.rgb, width, height);
    const result: JobResult = {
      image: { png, width, height },
      stopReason: 'done',
      meta: {
        seed: job.request.seed,
        steps,
        guidance: job.request.guidance,
        scheduler: job.request.scheduler,
        width,
        height,
        prompt: job.request.prompt,
        negativePrompt: job.request.negativePrompt,
        promptTruncated: job.truncated,
        provider: loaded.provider,
        ...(job.request.strength !== undefined ? { strength: job.request.strength, denoisingSteps: steps - job.start } : {}),
        ...(job.request.variationOf !== undefined ? { variationOf: job.request.variationOf } : {}),
      },
    };
    await this.end(jobId);
    return { jobId, done: result };
  }

  async end(jobId: string): Promise<void> {
    this.life.assertOpen();
    const job = this.jobs.get(jobId);
    if (!job) return;
    this.jobs.delete(jobId);
    const client = this.life.peek()?.client;
    // Not awaited: the release queues behind any UNet run still going in the thread, and ending a
    // job must not wait for that. Sent even when not yet encoded: an aborted encode may still land.
    if (client?.alive) void client.call({ type: 'release', key: job.key }).catch(() => undefined);
  }

  /** Stops the worker thread and forgets every job; every later call rejects SHUTTING_DOWN. Safe twice. */
  async dispose(): Promise<void> {
    await this.life.dispose();
  }

  /** The loaded model; restarts a worker thread that stopped since `load` (a crash in ONNX Runtime's JS side). */
  private async ensureLoaded(signal: AbortSignal | undefined): Promise<Loaded> {
    const current = this.life.peek();
    if (current && !current.client.alive) this.logger.warn(`${this.model}: the ONNX Runtime worker thread stopped; loading the model again`);
    return this.life.use(signal);
  }

  /** Same as `dispose()`, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
