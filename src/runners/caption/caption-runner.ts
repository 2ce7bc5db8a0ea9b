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
  private captioner: Captioner | null = null;
  private folder: CaptionFolder | null = null;
  private device: 'cpu' | 'cuda' | null = null;
  private loading: Promise<void> | null = null;
  private readonly jobs = new Map<string, PreparedJob>();
  private disposed = false;

  constructor(settings: CaptionSettings | Json, opts: CaptionRunnerOptions = {}) {
    // Settings arrive as JSON from the main process; checked here too, whoever built them.
    this.settings = parseCaptionSettings(settings as Json);
    this.model = this.settings.model;
    this.dir = resolve(this.settings.dir);
    this.log = opts.log ?? defaultLog;
  }

  /** The device the loaded model runs on, or null before load. */
  get activeDevice(): 'cpu' | 'cuda' | null {
    return this.device;
  }

  /** The loaded model's family, or null before load. */
  get family(): CaptionFamily | null {
    return this.folder?.family ?? null;
  }

  async vramBytes(): Promise<number> {
    const folder = this.folder ?? (await inspectCaptionFolder(this.dir, this.settings.providers[0] ?? 'cpu'));
    return Math.ceil(folder.totalBytes * VRAM_OVERHEAD);
  }

  async load(opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.disposed) throw new HearthError('RUNNER_FAILED', `caption runner ${this.model} was disposed`, { model: this.model });
    if (this.captioner) return;
    this.loading ??= this.doLoad().finally(() => {
      this.loading = null;
    });
    await this.loading;
    if (opts.signal?.aborted) {
      await this.unload();
      throw opts.signal.reason;
    }
  }

  private async doLoad(): Promise<void> {
    // Fully offline: files come from the folder or nowhere; anything transformers.js caches stays in dataDir.
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = `${dirname(this.dir)}/`;
    env.cacheDir = resolve(this.settings.cacheDir);

    const providers = this.settings.providers;
    for (let i = 0; i < providers.length; i++) {
      const device = providers[i] ?? 'cpu';
      const folder = await inspectCaptionFolder(this.dir, device);
      const loadOpts: CaptionerLoadOptions = {
        dir: this.dir,
        device,
        dtype: Object.fromEntries(folder.sessions.map((s) => [s.name, s.dtype])),
        ...(this.settings.threads !== undefined ? { threads: this.settings.threads } : {}),
      };
      try {
        this.captioner =
          folder.family === 'smolvlm' ? await SmolVlmCaptioner.load(loadOpts) : await VisionEncoderDecoderCaptioner.load(loadOpts);
        this.folder = folder;
        this.device = device;
        this.log('info', `caption model ${this.model} loaded`, {
          family: folder.family,
          device,
          files: folder.sessions.map((s) => s.file),
        });
        return;
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
    }
    throw new HearthError('RUNNER_FAILED', 'caption settings name no provider', { model: this.model });
  }

  async unload(): Promise<void> {
    const captioner = this.captioner;
    this.captioner = null;
    this.device = null;
    if (captioner) await captioner.dispose();
  }

  async begin(job: RunnerJob, opts: { signal?: AbortSignal } = {}): Promise<{ steps: number }> {
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
      const family = this.folder?.family ?? (await inspectCaptionFolder(this.dir, 'cpu')).family;
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
    const outputs: StepOutput[] = [];
    for (const jobId of jobIds) {
      outputs.push(await this.stepOne(jobId, opts));
    }
    return outputs;
  }

  private async stepOne(jobId: string, opts: StepOptions): Promise<StepOutput> {
    const job = this.jobs.get(jobId);
    if (!job) {
      return { jobId, failed: { code: 'NOT_FOUND', message: `caption job ${jobId} was not begun`, facts: { jobId } } };
    }
    const captioner = this.captioner;
    if (!captioner) {
      return { jobId, failed: { code: 'RUNNER_FAILED', message: `caption model ${this.model} is not loaded`, facts: { model: this.model } } };
    }
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
        device: this.device ?? 'cpu',
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
    this.jobs.delete(jobId);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.jobs.clear();
    if (this.loading) await this.loading.catch(() => undefined);
    await this.unload();
  }

  /** Same as `dispose()`, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
