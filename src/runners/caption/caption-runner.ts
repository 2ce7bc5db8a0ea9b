/**
 * The caption runner: one configured caption model in the GPU worker. A job is one step (one
 * caption or answer). The image is decoded and checked in `begin`, so a bad image fails before it
 * takes a turn on the GPU; the model runs in `step`.
 */
import { dirname, resolve } from 'node:path';
import { env, RawImage } from '@huggingface/transformers';
import type { Runner, RunnerJob, StepOptions, StepOutput } from '../../engine/runner.js';
import { HearthError, type Json } from '../../engine/types.js';
import { decodeImage } from '../../media/image-decode.js';
import { RunnerLifecycle, type LoadContext } from '../lifecycle.js';
import type { CaptionDetail, Captioner, CaptionerLoadOptions } from './captioner.js';
import { inspectCaptionFolder, type CaptionFamily, type CaptionFolder } from './model-folder.js';
import { parseCaptionPayload, readPayloadImage } from './payload.js';
import { SmolVlmCaptioner } from './smolvlm.js';
import { CAPTION_DEFAULTS, parseCaptionSettings, type CaptionSettings } from './settings.js';
import { VisionEncoderDecoderCaptioner } from './vision-encoder-decoder.js';

/** Weights plus headroom for activations and ONNX Runtime's arena. */
const VRAM_OVERHEAD = 1.2;

export type CaptionLog = (level: 'info' | 'warn', message: string, facts?: Record<string, Json>) => void;

export interface CaptionRunnerOptions {
  /** Where load notes go (e.g. the CUDA → CPU fallback). Default: console. */
  log?: CaptionLog;
}

interface Loaded {
  captioner: Captioner;
  folder: CaptionFolder;
  device: 'cpu' | 'cuda';
}

interface PreparedJob {
  image: RawImage;
  question?: string;
  detail: CaptionDetail;
  maxNewTokens: number;
  imageFacts: Record<string, Json>;
}

const defaultLog: CaptionLog = (level, message, facts) => {
  const line = facts ? `${message} ${JSON.stringify(facts)}` : message;
  if (level === 'warn') console.warn(`[caption] ${line}`);
  else console.info(`[caption] ${line}`);
};

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class CaptionRunner implements Runner {
  readonly kind = 'caption' as const;
  readonly maxBatch = 1;
  readonly model: string;
  readonly settings: CaptionSettings;
  private readonly dir: string;
  private readonly log: CaptionLog;
  private readonly life: RunnerLifecycle<Loaded>;
  private readonly jobs = new Map<string, PreparedJob>();

  constructor(settings: CaptionSettings | Json, opts: CaptionRunnerOptions = {}) {
    // Settings arrive as JSON from the main process; checked here too, whoever built them.
    this.settings = parseCaptionSettings(settings as Json);
    this.model = this.settings.model;
    this.dir = resolve(this.settings.dir);
    this.log = opts.log ?? defaultLog;
    this.life = new RunnerLifecycle<Loaded>({
      kind: 'caption',
      model: this.model,
      load: (ctx) => this.doLoad(ctx),
      warn: (m) => this.log('warn', m),
    });
    // Begun jobs (decoded images) outlive an unload, but not the runner.
    this.life.onDispose('jobs', () => this.jobs.clear());
  }

  /** The device the loaded model runs on, or null before load. */
  get activeDevice(): 'cpu' | 'cuda' | null {
    return this.life.peek()?.device ?? null;
  }

  /** The loaded model's family, or null before load. */
  get family(): CaptionFamily | null {
    return this.life.peek()?.folder.family ?? null;
  }

  async vramBytes(): Promise<number> {
    this.life.assertOpen();
    const folder = this.life.peek()?.folder ?? (await inspectCaptionFolder(this.dir, this.settings.providers[0] ?? 'cpu'));
    return Math.ceil(folder.totalBytes * VRAM_OVERHEAD);
  }

  /**
   * Loads the model; concurrent calls share one load (see RunnerLifecycle). transformers.js takes no
   * signal, so an abort is seen between providers and when the load returns (then it is freed).
   */
  async load(opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.life.load(opts);
  }

  private async doLoad({ signal, defer }: LoadContext): Promise<Loaded> {
    // Fully offline: files come from the folder or nowhere; anything transformers.js caches stays in dataDir.
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = `${dirname(this.dir)}/`;
    env.cacheDir = resolve(this.settings.cacheDir);

    const providers = this.settings.providers;
    for (let i = 0; i < providers.length; i++) {
      signal.throwIfAborted();
      const device = providers[i] ?? 'cpu';
      const folder = await inspectCaptionFolder(this.dir, device);
      const loadOpts: CaptionerLoadOptions = {
        dir: this.dir,
        device,
        dtype: Object.fromEntries(folder.sessions.map((s) => [s.name, s.dtype])),
        ...(this.settings.threads !== undefined ? { threads: this.settings.threads } : {}),
      };
      let captioner: Captioner;
      try {
        captioner = folder.family === 'smolvlm' ? await SmolVlmCaptioner.load(loadOpts) : await VisionEncoderDecoderCaptioner.load(loadOpts);
      } catch (e) {
        const next = providers[i + 1];
        if (device === 'cuda' && next !== undefined) {
          this.log('warn', `CUDA could not run caption model ${this.model} (${describe(e)}); falling back to ${next}`, {
            model: this.model,
            reason: describe(e),
          });
          continue;
        }
        if (device === 'cuda') {
          throw new HearthError(
            'RUNNER_FAILED',
            `CUDA could not run caption model ${this.model}: ${describe(e)}. Install the CUDA provider libraries or add "cpu" to the providers.`,
            { model: this.model, device, reason: describe(e) },
          );
        }
        throw new HearthError('MODEL_INVALID', `caption model in ${this.dir} could not be loaded: ${describe(e)}`, {
          dir: this.dir,
          device,
          reason: describe(e),
        });
      }
      defer('captioner', () => captioner.dispose());
      this.log('info', `caption model ${this.model} loaded`, {
        family: folder.family,
        device,
        files: folder.sessions.map((s) => s.file),
      });
      return { captioner, folder, device };
    }
    throw new HearthError('RUNNER_FAILED', 'caption settings name no provider', { model: this.model });
  }

  /** Frees the model (waits for a load in flight). Begun jobs stay, to run after the next load. */
  async unload(): Promise<void> {
    await this.life.unload();
  }

  async begin(job: RunnerJob, opts: { signal?: AbortSignal } = {}): Promise<{ steps: number }> {
    const loaded = await this.life.use(opts.signal);
    if (job.kind !== 'caption') {
      throw new HearthError('INVALID_INPUT', `caption runner got a ${job.kind} job`, { kind: job.kind });
    }
    const s = this.settings;
    const maxImageBytes = s.maxImageBytes ?? CAPTION_DEFAULTS.maxImageBytes;
    const payload = parseCaptionPayload(job.payload, {
      maxImageBytes,
      maxQuestionChars: s.maxQuestionChars ?? CAPTION_DEFAULTS.maxQuestionChars,
    });

    if (payload.question !== undefined) {
      const family = loaded.folder.family;
      if (family === 'vision-encoder-decoder') {
        // A captioner only describes; answering from its caption is the chat's job (it has the LLM).
        throw new HearthError(
          'INVALID_INPUT',
          `caption model ${this.model} (vision-encoder-decoder) can only describe images, not answer questions; ask without a question, or configure a SmolVLM model`,
          { model: this.model, family, question: payload.question },
        );
      }
    }

    const bytes = await readPayloadImage(payload.source, maxImageBytes);
    const decoded = await decodeImage(bytes, {
      maxBytes: maxImageBytes,
      maxPixels: s.maxImagePixels ?? CAPTION_DEFAULTS.maxImagePixels,
      maxSide: s.maxImageSide ?? CAPTION_DEFAULTS.maxImageSide,
      ...(payload.declaredType !== undefined ? { declaredType: payload.declaredType } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (!decoded.ok) throw HearthError.from(decoded.error);
    const img = decoded.value;
    const rgb = new Uint8ClampedArray(img.rgb.buffer, img.rgb.byteOffset, img.rgb.byteLength);

    this.jobs.set(job.id, {
      image: new RawImage(rgb, img.width, img.height, 3),
      detail: payload.detail,
      maxNewTokens: payload.detail === 'detailed' ? s.detailedMaxNewTokens : s.maxNewTokens,
      ...(payload.question !== undefined ? { question: payload.question } : {}),
      imageFacts: { format: img.format, width: img.sourceWidth, height: img.sourceHeight, frames: img.frames },
    });
    return { steps: 1 };
  }

  async step(jobIds: string[], opts: StepOptions): Promise<StepOutput[]> {
    // Not loaded (or disposed) rejects the whole step, as in every runner; the rest is per job.
    const loaded = await this.life.use(opts.signal);
    const outputs: StepOutput[] = [];
    for (const jobId of jobIds) {
      outputs.push(await this.stepOne(jobId, loaded, opts));
    }
    return outputs;
  }

  private async stepOne(jobId: string, { captioner, device }: Loaded, opts: StepOptions): Promise<StepOutput> {
    const job = this.jobs.get(jobId);
    if (!job) return this.life.jobNotFound(jobId);
    // Not done, state kept: the job can be stepped again or ended.
    if (opts.signal?.aborted) return { jobId };

    try {
      const out = await captioner.caption(
        job.image,
        { detail: job.detail, maxNewTokens: job.maxNewTokens, ...(job.question !== undefined ? { question: job.question } : {}) },
        {
          ...(opts.signal ? { signal: opts.signal } : {}),
          onText: (text) => opts.emit(jobId, { type: 'token', text }),
        },
      );
      if (out.interrupted) return { jobId };
      const meta: Record<string, Json> = {
        model: this.model,
        detail: job.detail,
        family: captioner.family,
        device,
        tokens: out.tokens,
        promptTokens: out.promptTokens,
        image: job.imageFacts,
      };
      if (job.question !== undefined) meta['question'] = job.question;
      return {
        jobId,
        done: {
          text: out.text,
          stopped: out.hitTokenLimit,
          stopReason: out.hitTokenLimit ? 'maxTokens' : 'done',
          meta,
        },
      };
    } catch (e) {
      if (opts.signal?.aborted) return { jobId };
      return { jobId, failed: { code: 'RUNNER_FAILED', message: `captioning failed: ${describe(e)}`, facts: { model: this.model, reason: describe(e) } } };
    }
  }

  async end(jobId: string): Promise<void> {
    this.life.assertOpen();
    this.jobs.delete(jobId);
  }

  /** Frees the model and forgets every job; every later call rejects SHUTTING_DOWN. Safe twice. */
  async dispose(): Promise<void> {
    await this.life.dispose();
  }

  /** Same as `dispose()`, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
