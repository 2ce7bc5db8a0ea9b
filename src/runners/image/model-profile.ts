/**
 * What an image model is, read from its export's own small configs without loading anything: the
 * main process reads it at start (so /imagine's default size is the model's native one from the first
 * command on) and the runner at load (so it holds jobs to the same rules). Synchronous: a few small
 * JSON files, read once.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { FALLBACK_NATIVE_SIZE, type ImageModelProfile } from '../../jobs/image-model.js';
import { parseDiffusersJson } from './schedulers/config.js';

function readObject(file: string): Record<string, unknown> {
  try {
    const v = parseDiffusersJson(readFileSync(file, 'utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const isFile = (file: string): boolean => existsSync(file) && statSync(file).isFile();

/** The model's family as the folder says it: model_index.json's pipeline class, or a second text encoder beside the rest. */
export function isXlFolder(dir: string, index: Record<string, unknown> = readObject(join(dir, 'model_index.json'))): boolean {
  const className = typeof index._class_name === 'string' ? index._class_name : '';
  return className.includes('StableDiffusionXL') || isFile(join(dir, 'text_encoder_2', 'model.onnx'));
}

/**
 * The profile of the export in `dir`, or undefined when the folder is not there (a cluster
 * coordinator whose workers hold the model; hearth then uses the configured sizes, else 512).
 * Turbo is named, not guessed from the sampler: model_index.json's or unet/config.json's
 * `_name_or_path` (stabilityai/sdxl-turbo, stabilityai/sd-turbo), or the folder's own name, says
 * "turbo" (`models.image.kind` says it when none does).
 */
export function readImageModelProfile(dir: string): ImageModelProfile | undefined {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return undefined;
  const index = readObject(join(dir, 'model_index.json'));
  const unet = readObject(join(dir, 'unet', 'config.json'));
  const xl = isXlFolder(dir, index);
  const sampleSize = unet.sample_size;
  const nativeSize = typeof sampleSize === 'number' && Number.isInteger(sampleSize) && sampleSize > 0 ? sampleSize * 8 : xl ? 1024 : FALLBACK_NATIVE_SIZE;
  const names = [index._name_or_path, unet._name_or_path, basename(dir)].filter((n): n is string => typeof n === 'string');
  const turbo = names.some((n) => /turbo/i.test(n));
  return {
    family: xl ? 'sdxl' : 'sd',
    nativeSize,
    turbo,
    imageToImage: isFile(join(dir, 'vae_encoder', 'model.onnx')),
    label: `${xl ? 'SDXL' : 'SD'}${turbo ? '-Turbo' : ''}`,
  };
}
