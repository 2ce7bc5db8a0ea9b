/** The files of a diffusers/optimum ONNX export that the pipeline needs, checked before anything loads. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HearthError } from '../../engine/types.js';
import { exists } from './files.js';
import { parseDiffusersJson, parseSchedulerConfig, type SchedulerConfig } from './schedulers/config.js';

/** SD 1.x's VAE scaling factor, used when vae_decoder/config.json does not say. */
export const DEFAULT_SCALING_FACTOR = 0.18215;
/** SDXL's, when an SDXL export's vae_decoder/config.json does not say. */
export const SDXL_SCALING_FACTOR = 0.13025;

/** The second text encoder of an SDXL export (CLIP ViT-bigG with projection) and its tokenizer. */
export interface XlParts {
  textEncoder2: string;
  tokenizer2Dir: string;
  /** `force_zeros_for_empty_prompt` (model_index.json; SDXL's default true): an empty negative prompt is zero embeddings. */
  zerosForEmptyPrompt: boolean;
}

export interface ModelFolder {
  dir: string;
  tokenizerDir: string;
  textEncoder: string;
  unet: string;
  vaeDecoder: string;
  schedulerFile: string;
  schedulerConfig: SchedulerConfig;
  /** Latents are divided by this before the VAE decodes them. */
  scalingFactor: number;
  /** Present for an SDXL export (model_index.json `StableDiffusionXLPipeline`, or text_encoder_2/ beside the rest). */
  xl?: XlParts;
  /** The size the model was trained at: unet/config.json `sample_size` × 8, else 512 (SD) or 1024 (SDXL). */
  nativeSize: number;
  /** vae_encoder/model.onnx when the export has it: image-to-image needs it, text-to-image does not. */
  vaeEncoder?: string;
  /** The VAE's config.json `force_upcast` (SDXL's VAE overflows in fp16 and must run in fp32). */
  forceUpcast: boolean;
}

const REQUIRED = [
  { key: 'textEncoder', path: ['text_encoder', 'model.onnx'], what: 'the text encoder' },
  { key: 'unet', path: ['unet', 'model.onnx'], what: 'the UNet' },
  { key: 'vaeDecoder', path: ['vae_decoder', 'model.onnx'], what: 'the VAE decoder' },
  { key: 'schedulerFile', path: ['scheduler', 'scheduler_config.json'], what: 'the scheduler config' },
] as const;

/** The parts whose files count towards the memory estimate (weights may sit in external data files beside model.onnx). */
const WEIGHT_FOLDERS = ['text_encoder', 'text_encoder_2', 'unet', 'vae_decoder'] as const;

/** Checks the folder and reads its small configs. Throws MODEL_MISSING or MODEL_INVALID naming the file. */
export async function inspectModelFolder(dir: string): Promise<ModelFolder> {
  const isDir = await stat(dir).then((s) => s.isDirectory(), () => false);
  if (!isDir) {
    throw new HearthError('MODEL_MISSING', `the image model folder ${dir} does not exist`, {
      file: dir,
      expected: 'a diffusers/optimum ONNX export folder (text_encoder/, unet/, vae_decoder/, tokenizer/, scheduler/)',
    });
  }
  const paths: Record<string, string> = {};
  for (const r of REQUIRED) {
    const file = join(dir, ...r.path);
    if (!(await exists(file))) {
      throw new HearthError('MODEL_MISSING', `${file} is missing: the image model needs ${r.what} (${r.path.join('/')})`, {
        file,
        expected: `${r.what} at ${r.path.join('/')}`,
        dir,
      });
    }
    paths[r.key] = file;
  }
  const schedulerFile = paths.schedulerFile as string;
  const schedulerConfig = parseSchedulerConfig(await readJson(schedulerFile), schedulerFile);
  const index = await readOptionalJson(join(dir, 'model_index.json'));
  const className = typeof index._class_name === 'string' ? index._class_name : '';
  const textEncoder2 = join(dir, 'text_encoder_2', 'model.onnx');
  const isXl = className.includes('StableDiffusionXL') || (await exists(textEncoder2));
  let xl: XlParts | undefined;
  if (isXl) {
    for (const [file, what] of [
      [textEncoder2, 'the second text encoder (text_encoder_2/model.onnx)'],
      [join(dir, 'tokenizer_2'), 'the second tokenizer (tokenizer_2/)'],
    ] as const) {
      const present = await stat(file).then((s) => s.isFile() || s.isDirectory(), () => false);
      if (!present) {
        throw new HearthError('MODEL_MISSING', `${file} is missing: an SDXL export (${className || 'text_encoder_2/'}) needs ${what}`, { file, expected: what, dir });
      }
    }
    xl = { textEncoder2, tokenizer2Dir: join(dir, 'tokenizer_2'), zerosForEmptyPrompt: index.force_zeros_for_empty_prompt !== false };
  }
  const vaeEncoder = join(dir, 'vae_encoder', 'model.onnx');
  const hasEncoder = await stat(vaeEncoder).then((st) => st.isFile(), () => false);
  const vaeConfig = await readOptionalJson(join(dir, 'vae_decoder', 'config.json'));
  const unetConfig = await readOptionalJson(join(dir, 'unet', 'config.json'));
  const sampleSize = unetConfig.sample_size;
  const nativeSize = typeof sampleSize === 'number' && Number.isInteger(sampleSize) && sampleSize > 0 ? sampleSize * 8 : xl ? 1024 : 512;
  return {
    ...(xl ? { xl } : {}),
    ...(hasEncoder ? { vaeEncoder } : {}),
    forceUpcast: vaeConfig.force_upcast === true,
    nativeSize,
    dir,
    tokenizerDir: join(dir, 'tokenizer'),
    textEncoder: paths.textEncoder as string,
    unet: paths.unet as string,
    vaeDecoder: paths.vaeDecoder as string,
    schedulerFile,
    schedulerConfig,
    scalingFactor: await readScalingFactor(join(dir, 'vae_decoder', 'config.json'), xl ? SDXL_SCALING_FACTOR : DEFAULT_SCALING_FACTOR),
  };
}

/** A small JSON object file, or {} when the file is absent. */
async function readOptionalJson(file: string): Promise<Record<string, unknown>> {
  if (!(await exists(file))) return {};
  const json = await readJson(file);
  return typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : {};
}

async function readScalingFactor(file: string, fallback: number): Promise<number> {
  if (!(await exists(file))) return fallback;
  const json = await readJson(file);
  const v = (json as { scaling_factor?: unknown }).scaling_factor;
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new HearthError('MODEL_INVALID', `${file}: expected scaling_factor to be a positive number; got ${JSON.stringify(v)}`, {
      file,
      expected: 'scaling_factor: a positive number',
      given: JSON.stringify(v),
    });
  }
  return v;
}

async function readJson(file: string): Promise<unknown> {
  try {
    return parseDiffusersJson(await readFile(file, 'utf8'));
  } catch (e) {
    throw new HearthError('MODEL_INVALID', `${file} is not valid JSON: ${(e as Error).message}`, { file, expected: 'JSON' });
  }
}

/** What an SD 1.5 fp16 export weighs (UNet 1.72 GB, text encoder 0.25 GB, VAE decoder 0.1 GB): the estimate before the folder exists. */
const TYPICAL_WEIGHT_BYTES = 2.07e9;

/**
 * Bytes of weights (every file in text_encoder/, unet/ and vae_decoder/, so external data counts)
 * plus activations: about half the weights' size at 512×512 for SD-class models (attention maps and
 * the VAE's full-resolution feature maps), scaled by pixel count, at least 64 MiB, plus 300 MiB for
 * the CUDA context and ONNX Runtime's arena. A missing folder is estimated as a typical SD 1.5
 * export: the estimate must not fail (the worker asks every runner for it at start), `load` reports
 * what is missing.
 */
export async function estimateVramBytes(dir: string, width: number, height: number): Promise<number> {
  let weights = 0;
  let found = false;
  for (const folder of WEIGHT_FOLDERS) {
    const sub = join(dir, folder);
    const names = await readdir(sub).catch(() => [] as string[]);
    for (const name of names) {
      if (name.endsWith('.json')) continue;
      const s = await stat(join(sub, name)).catch(() => undefined);
      if (s?.isFile()) {
        weights += s.size;
        found = true;
      }
    }
  }
  // An SDXL export's second text encoder (CLIP ViT-bigG, 1.4 GB in fp16) counts with the rest above.
  if (!found) weights = TYPICAL_WEIGHT_BYTES;
  const pixelsRatio = (width * height) / (512 * 512);
  const activations = Math.max(64 * 2 ** 20, 0.5 * weights) * pixelsRatio;
  return Math.round(weights + activations + 300 * 2 ** 20);
}
