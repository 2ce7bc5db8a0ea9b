/**
 * The embedding runner: one transformers.js feature-extraction model (`models.embedding.dir`, e.g.
 * all-MiniLM-L6-v2) in the GPU worker. An embed job is one step: its batch of texts through the model,
 * mean-pooled and normalized (unit vectors, so cosine is a dot product), back as the result's `meta`
 * (see src/jobs/embed.ts). The lifecycle is the one every runner shares (src/runners/lifecycle.ts).
 */
import { dirname, resolve } from 'node:path';
import { env, pipeline, type FeatureExtractionPipeline } from '@huggingface/transformers';
import type { Runner, RunnerJob, StepOptions, StepOutput } from '../../engine/runner.js';
import { HearthError, type Json } from '../../engine/types.js';
import { embedResultMeta, parseEmbedPayload } from '../../jobs/embed.js';
import { RunnerLifecycle, type LoadContext } from '../lifecycle.js';
import { inspectEmbedFolder, type EmbedFolder } from './model-folder.js';

/** Weights plus headroom for activations and ONNX Runtime's arena. */
const VRAM_OVERHEAD = 1.3;

/** The embedding runner's settings, as the worker receives them (JSON from the main process). */
export interface EmbedSettings {
  /** Model id as named in config (`embedding`). */
  model: string;
  /** The transformers.js model folder (`models.embedding.dir`). */
  dir: string;
  /** Execution providers in order of preference; `['cuda', 'cpu']` falls back to CPU when CUDA fails. */
  providers: Array<'cuda' | 'cpu'>;
  /** transformers.js cache folder, inside dataDir. */
  cacheDir: string;
  /** ONNX Runtime threads on CPU. Default: ONNX Runtime's choice. */
  threads?: number;
}

function bad(key: string, expected: string, given: Json | undefined): HearthError {
  return new HearthError('INVALID_INPUT', `embedding settings: ${key} must be ${expected}; got ${JSON.stringify(given ?? null)}`, { key, given: given ?? null });
}

/** Validates settings. Throws HearthError INVALID_INPUT naming the key. */
export function parseEmbedSettings(json: Json): EmbedSettings {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new HearthError('INVALID_INPUT', 'embedding settings must be an object', {});
  const str = (key: string): string => {
    const v = json[key];
    if (typeof v !== 'string' || v === '') throw bad(key, 'a non-empty string', v);
    return v;
  };
  const providers = json['providers'] ?? ['cpu'];
  if (!Array.isArray(providers) || providers.length === 0 || !providers.every((p): p is 'cuda' | 'cpu' => p === 'cuda' || p === 'cpu')) {
    throw bad('providers', 'a non-empty list of "cuda" and "cpu"', providers);
  }
  const threads = json['threads'];
  if (threads !== undefined && (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1 || threads > 256)) {
    throw bad('threads', 'an integer between 1 and 256', threads);
  }
  return { model: str('model'), dir: str('dir'), providers: [...new Set(providers)], cacheDir: str('cacheDir'), ...(threads !== undefined ? { threads } : {}) };
}

/** Where load notes go (loaded, the CUDA → CPU fallback). */
export type EmbedLog = (level: 'info' | 'warn', message: string) => void;

interface Loaded {
  extractor: FeatureExtractionPipeline;
  folder: EmbedFolder;
  device: 'cpu' | 'cuda';
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class EmbedRunner implements Runner {
  readonly kind = 'embed' as const;
  /** A job is already a batch of texts: one job per step keeps each step short and fairly charged. */
  readonly maxBatch = 1;
  readonly model: string;
  readonly settings: EmbedSettings;
  readonly #dir: string;
  readonly #life: RunnerLifecycle<Loaded>;
  readonly #jobs = new Map<string, string[]>();
  readonly #log: EmbedLog;

  constructor(settings: EmbedSettings | Json, opts: { log?: EmbedLog } = {}) {
    this.settings = parseEmbedSettings(settings as Json);
    this.model = this.settings.model;
    this.#dir = resolve(this.settings.dir);
    this.#log = opts.log ?? ((level, m) => (level === 'warn' ? console.warn(`[embed] ${m}`) : console.info(`[embed] ${m}`)));
    this.#life = new RunnerLifecycle<Loaded>({ kind: 'embed', model: this.model, load: (ctx) => this.#load(ctx), warn: (m) => this.#log('warn', m) });
    this.#life.onDispose('jobs', () => this.#jobs.clear());
  }

  /** The loaded model's device, or null before load. */
  get activeDevice(): 'cpu' | 'cuda' | null {
    return this.#life.peek()?.device ?? null;
  }

  async vramBytes(): Promise<number> {
    this.#life.assertOpen();
    const folder = this.#life.peek()?.folder ?? (await inspectEmbedFolder(this.#dir, this.settings.providers[0] ?? 'cpu'));
    return Math.ceil(folder.bytes * VRAM_OVERHEAD);
  }

  async load(opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#life.load(opts);
  }

  async #load({ signal, defer }: LoadContext): Promise<Loaded> {
    // Fully offline: the folder or nothing; transformers.js's cache stays in dataDir.
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = `${dirname(this.#dir)}/`;
    env.cacheDir = resolve(this.settings.cacheDir);
    const providers = this.settings.providers;
    for (let i = 0; i < providers.length; i++) {
      signal.throwIfAborted();
      const device = providers[i] ?? 'cpu';
      const folder = await inspectEmbedFolder(this.#dir, device);
      let extractor: FeatureExtractionPipeline;
      try {
        extractor = await pipeline('feature-extraction', this.#dir, {
          device,
          dtype: folder.dtype,
          local_files_only: true,
          ...(this.settings.threads !== undefined ? { session_options: { intraOpNumThreads: this.settings.threads } } : {}),
        });
      } catch (e) {
        const next = providers[i + 1];
        if (device === 'cuda' && next !== undefined) {
          this.#log('warn', `CUDA could not run embedding model ${this.model} (${describe(e)}); falling back to ${next}`);
          continue;
        }
        throw new HearthError('MODEL_INVALID', `embedding model in ${this.#dir} (models.embedding.dir) could not be loaded: ${describe(e)}`, {
          dir: this.#dir,
          device,
          reason: describe(e),
        });
      }
      defer('extractor', () => extractor.dispose());
      this.#log('info', `embedding model ${this.model} loaded (${folder.file} on ${device})`);
      return { extractor, folder, device };
    }
    throw new HearthError('RUNNER_FAILED', 'embedding settings name no provider', { model: this.model });
  }

  async unload(): Promise<void> {
    await this.#life.unload();
  }

  async begin(job: RunnerJob, opts: { signal?: AbortSignal } = {}): Promise<{ steps: number }> {
    await this.#life.use(opts.signal);
    if (job.kind !== 'embed') throw new HearthError('INVALID_INPUT', `embedding runner got a ${job.kind} job`, { kind: job.kind });
    const payload = parseEmbedPayload(job.payload);
    if (!payload.ok) throw HearthError.from(payload.error);
    this.#jobs.set(job.id, payload.value.texts);
    return { steps: 1 };
  }

  async step(jobIds: string[], opts: StepOptions): Promise<StepOutput[]> {
    const { extractor, device } = await this.#life.use(opts.signal);
    const outputs: StepOutput[] = [];
    for (const jobId of jobIds) {
      const texts = this.#jobs.get(jobId);
      if (!texts) {
        outputs.push(this.#life.jobNotFound(jobId));
        continue;
      }
      if (opts.signal?.aborted) {
        outputs.push({ jobId });
        continue;
      }
      try {
        const out = await extractor(texts, { pooling: 'mean', normalize: true });
        const dims = out.dims.at(-1) ?? 0;
        const data = out.data;
        if (!(data instanceof Float32Array) || dims <= 0 || data.length !== dims * texts.length) {
          throw new Error(`the model gave ${out.type} of shape [${out.dims.join(', ')}] for ${texts.length} texts`);
        }
        outputs.push({ jobId, done: { meta: { ...embedResultMeta(data, dims, this.model), device } } });
      } catch (e) {
        if (opts.signal?.aborted) outputs.push({ jobId });
        else outputs.push({ jobId, failed: { code: 'RUNNER_FAILED', message: `embedding failed: ${describe(e)}`, facts: { model: this.model, reason: describe(e) } } });
      }
    }
    return outputs;
  }

  async end(jobId: string): Promise<void> {
    this.#life.assertOpen();
    this.#jobs.delete(jobId);
  }

  async dispose(): Promise<void> {
    await this.#life.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
