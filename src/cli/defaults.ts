/**
 * The recommended defaults, as Ollama's first `run` offers a model: a small instruct chat model (GGUF),
 * the default captioner, where the GPU has room an SD-class ONNX export, and where the config lists
 * channels to index (workspace knowledge) a small English sentence-embedding model. `planDefaults` asks the hub
 * for their files, sizes and checksums (so the sizes are named before anything is downloaded);
 * `pullDefaults` downloads them into dataDir/models (resumable, checksummed) and records each one in
 * dataDir/models/defaults.json as soon as it is complete, so the next start uses it with no config.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { VramBudget } from '../app/vram.js';
import { knowledgeConfigured, RECORDED_DEFAULTS_FILE, type DefaultKind, type RecordedDefaults } from '../config/load.js';
import type { HearthConfig } from '../config/schema.js';
import { HearthError } from '../engine/types.js';
import { FAMILIES } from '../runners/caption/model-folder.js';
import { EMBED_FILES, EMBED_OPTIONAL_FILES } from '../runners/embed/model-folder.js';
import { downloadHubFile, listHubFiles, type HubFile } from './hub-download.js';

export interface DefaultModel {
  kind: DefaultKind;
  name: string;
  repo: string;
  /** What the hub said last time we looked, for the offer made without asking it (the real size is asked for first). */
  approxBytes: number;
  /** Where it goes under dataDir/models: the GGUF file's folder for chat (the models folder itself), a folder otherwise. */
  folder: string;
  /** Only offered where a GPU was found and the VRAM budget holds it beside the others. */
  gpuOnly: boolean;
  /** Only offered where the config lists channels to index (the embedding model serves nothing else). */
  forKnowledge?: boolean;
  /** The files to fetch; throws MODEL_MISSING naming what the hub lacks. */
  pick(files: HubFile[]): HubFile[];
}

function need(repo: string, files: HubFile[], paths: string[], optional: string[] = []): HubFile[] {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const missing = paths.filter((p) => !byPath.has(p));
  if (missing.length > 0) throw new HearthError('MODEL_MISSING', `${repo} on the hub has no ${missing.join(', ')}`, { path: missing.join(', ') });
  return [...paths, ...optional].flatMap((p) => byPath.get(p) ?? []);
}

const CHAT_FILE = 'qwen2.5-0.5b-instruct-q4_k_m.gguf';
const CAPTION = FAMILIES['vision-encoder-decoder'];
const EMBEDDING_REPO = 'Xenova/all-MiniLM-L6-v2';
const IMAGE_PARTS = /^(model_index\.json|(text_encoder|unet|vae_decoder)\/.+|tokenizer\/.+|scheduler\/.+)$/;

export const DEFAULT_MODELS: readonly DefaultModel[] = [
  {
    kind: 'chat',
    name: 'Qwen2.5-0.5B-Instruct, Q4_K_M (GGUF)',
    repo: 'Qwen/Qwen2.5-0.5B-Instruct-GGUF',
    approxBytes: 491_400_000,
    folder: '',
    gpuOnly: false,
    pick: (files) => need('Qwen/Qwen2.5-0.5B-Instruct-GGUF', files, [CHAT_FILE]),
  },
  {
    kind: 'caption',
    name: 'vit-gpt2 image captioning (ONNX)',
    repo: 'Xenova/vit-gpt2-image-captioning',
    approxBytes: 982_000_000,
    folder: 'caption/vit-gpt2-image-captioning',
    gpuOnly: false,
    pick: (files) =>
      need('Xenova/vit-gpt2-image-captioning', files, [...CAPTION.files, ...CAPTION.sessions.map((s) => `onnx/${s}.onnx`)], [...CAPTION.optionalFiles, 'special_tokens_map.json']),
  },
  {
    kind: 'image',
    name: 'SD-Turbo (ONNX, fp16)',
    repo: 'onnxruntime/sd-turbo',
    approxBytes: 2_600_000_000,
    folder: 'image/sd-turbo',
    gpuOnly: true,
    pick: (files) => {
      const picked = files.filter((f) => IMAGE_PARTS.test(f.path) && !f.path.endsWith('.md'));
      for (const part of ['model_index.json', 'text_encoder/model.onnx', 'unet/model.onnx', 'vae_decoder/model.onnx']) need('onnxruntime/sd-turbo', picked, [part]);
      return picked;
    },
  },
  {
    kind: 'embedding',
    name: 'all-MiniLM-L6-v2 sentence embeddings (ONNX, English)',
    repo: EMBEDDING_REPO,
    approxBytes: 91_000_000,
    folder: 'embedding/all-MiniLM-L6-v2',
    gpuOnly: false,
    forKnowledge: true,
    // The fp32 export: the one the embedding runner prefers on the CPU, and the one `hearth models
    // pull` fetches for a configured `models.embedding` too, so both give the same vectors.
    pick: (files) => need(EMBEDDING_REPO, files, [...EMBED_FILES, 'onnx/model.onnx'], [...EMBED_OPTIONAL_FILES]),
  },
];

/**
 * Why a default is not wanted by this config at all, or undefined when it is. The embedding model is
 * offered only where the config lists channels to index: it serves workspace knowledge alone, and a
 * recorded one is loaded at every start, so without channels it would take a download and VRAM for
 * nothing (an admin who runs `--defaults` before setting knowledge up is told how to get it later).
 */
export function notWanted(model: DefaultModel, config: Pick<HearthConfig, 'knowledge'>): string | undefined {
  if (model.forKnowledge && !knowledgeConfigured(config.knowledge)) {
    return 'not needed yet: it serves workspace knowledge, and knowledge.slackChannels and knowledge.discordChannels are empty; list channels to index, then run this again';
  }
  return undefined;
}

export interface PlannedModel {
  model: DefaultModel;
  files: HubFile[];
  bytes: number;
}

export interface DefaultsPlan {
  endpoint: string;
  offered: PlannedModel[];
  /** Left out, and why (no GPU, no room in the VRAM budget). */
  skipped: Array<{ model: DefaultModel; why: string }>;
  bytes: number;
}

export const gb = (n: number): string => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${(n / 1e6).toFixed(1)} MB`);

/**
 * Asks the hub what each default the config lacks (`kinds`) holds. The image model is offered only
 * where a GPU was found and all the offered models' files together fit the VRAM budget.
 */
export async function planDefaults(opts: {
  endpoint: string;
  kinds: readonly DefaultKind[];
  budget: VramBudget;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}): Promise<DefaultsPlan> {
  const plan: DefaultsPlan = { endpoint: opts.endpoint, offered: [], skipped: [], bytes: 0 };
  for (const model of DEFAULT_MODELS) {
    if (!opts.kinds.includes(model.kind)) continue;
    if (model.gpuOnly && opts.budget.source === 'system memory (no GPU found)') {
      plan.skipped.push({ model, why: 'no GPU found (an image model on the CPU takes minutes per image)' });
      continue;
    }
    const files = model.pick(await listHubFiles(model.repo, { endpoint: opts.endpoint, ...(opts.fetch ? { fetch: opts.fetch } : {}), ...(opts.signal ? { signal: opts.signal } : {}) }));
    const bytes = files.reduce((s, f) => s + f.size, 0);
    if (model.gpuOnly && plan.bytes + bytes > opts.budget.bytes) {
      plan.skipped.push({ model, why: `the VRAM budget (${gb(opts.budget.bytes)}) has no room for its ${gb(bytes)} beside the others` });
      continue;
    }
    plan.offered.push({ model, files, bytes });
    plan.bytes += bytes;
  }
  return plan;
}

/** The offer in lines, each model's size first. */
export function describePlan(plan: DefaultsPlan): string[] {
  const lines = plan.offered.map((p) => `  ${p.model.kind.padEnd(9)} ${gb(p.bytes).padStart(10)}  ${p.model.name}  (hf:${p.model.repo})`);
  for (const s of plan.skipped) lines.push(`  ${s.model.kind.padEnd(9)} ${'skipped'.padStart(10)}  ${s.model.name}: ${s.why}`);
  return lines;
}

export interface DefaultsProgress {
  kind: DefaultKind;
  file: string;
  /** This model's bytes on disk so far and in all. */
  done: number;
  bytes: number;
  /** Every offered model's together. */
  allDone: number;
  allBytes: number;
}

export function modelsDir(dataDir: string): string {
  return join(dataDir, 'models');
}

/** The record as it is on disk (empty when there is none). */
export async function readRecord(dataDir: string): Promise<RecordedDefaults> {
  try {
    return JSON.parse(await readFile(join(dataDir, RECORDED_DEFAULTS_FILE), 'utf8')) as RecordedDefaults;
  } catch {
    return { version: 1, models: {} };
  }
}

async function record(dataDir: string, planned: PlannedModel): Promise<void> {
  const current = await readRecord(dataDir);
  const { model } = planned;
  const source = `hf:${model.repo}`;
  if (model.kind === 'chat') current.models.chat = { path: join(model.folder, planned.files[0]!.path), source };
  else if (model.kind === 'caption') current.models.caption = { dir: model.folder, source };
  else if (model.kind === 'embedding') current.models.embedding = { dir: model.folder, source };
  else current.models.image = { dir: model.folder, source };
  const file = join(dataDir, RECORDED_DEFAULTS_FILE);
  await writeFile(`${file}.tmp`, `${JSON.stringify(current, null, 2)}\n`, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

/**
 * Downloads the plan's models one after another; each is recorded in dataDir/models/defaults.json once
 * all its files are there and checked. An interruption leaves `.part` files that the next pull continues.
 */
export async function pullDefaults(
  plan: DefaultsPlan,
  opts: { dataDir: string; fetch?: typeof fetch; signal?: AbortSignal; onProgress?: (p: DefaultsProgress) => void; timeoutMs?: number },
): Promise<RecordedDefaults> {
  let before = 0;
  for (const planned of plan.offered) {
    const { model } = planned;
    let modelBefore = 0;
    for (const file of planned.files) {
      const dest = join(modelsDir(opts.dataDir), model.folder, file.path);
      await downloadHubFile({
        endpoint: plan.endpoint,
        repo: model.repo,
        file,
        dest,
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
        onProgress: (n) =>
          opts.onProgress?.({ kind: model.kind, file: file.path, done: modelBefore + n, bytes: planned.bytes, allDone: before + modelBefore + n, allBytes: plan.bytes }),
      });
      modelBefore += file.size;
      opts.onProgress?.({ kind: model.kind, file: file.path, done: modelBefore, bytes: planned.bytes, allDone: before + modelBefore, allBytes: plan.bytes });
    }
    before += planned.bytes;
    await record(opts.dataDir, planned);
  }
  return readRecord(opts.dataDir);
}
