/**
 * Reads an embedding model folder (`models.embedding.dir`) before transformers.js sees it: config.json,
 * tokenizer.json and one `onnx/model<suffix>.onnx` must be there. A folder without them is
 * MODEL_MISSING naming the key, the folder and the file, and `hearth models pull`, instead of a
 * library stack trace when the first message is embedded.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HearthError, type Json } from '../../engine/types.js';
import { PREFERENCE, SUFFIX, type OnnxDtype } from '../caption/model-folder.js';

/** What the pull fetches and the runner needs, besides the ONNX file. */
export const EMBED_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json'] as const;
export const EMBED_OPTIONAL_FILES = ['special_tokens_map.json'] as const;

export interface EmbedFolder {
  dir: string;
  modelType: string;
  /** `hidden_size` from config.json, when it says (the vectors' width is learned from the model's output). */
  hiddenSize?: number;
  file: string;
  dtype: OnnxDtype;
  bytes: number;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function missing(dir: string, file: string): HearthError {
  return new HearthError(
    'MODEL_MISSING',
    `models.embedding.dir ${dir} has no ${file}: it must be a transformers.js feature-extraction model folder (config.json, tokenizer.json, onnx/model.onnx); \`hearth models pull\` downloads one`,
    { key: 'models.embedding.dir', dir, file },
  );
}

/** Checks the folder for the device (`cpu` prefers fp32, `cuda` fp16); throws MODEL_MISSING / MODEL_INVALID. */
export async function inspectEmbedFolder(dir: string, device: 'cpu' | 'cuda' = 'cpu'): Promise<EmbedFolder> {
  for (const f of ['config.json', 'tokenizer.json']) if (!(await exists(join(dir, f)))) throw missing(dir, f);
  let config: Json;
  try {
    config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Json;
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new HearthError('MODEL_INVALID', `embedding model file config.json is not valid JSON: ${reason}`, { dir, file: 'config.json', reason });
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config) || typeof config['model_type'] !== 'string') {
    throw new HearthError('MODEL_INVALID', 'embedding model config.json must be an object with a model_type', { dir, file: 'config.json', key: 'model_type' });
  }
  for (const dtype of PREFERENCE[device]) {
    const file = `onnx/model${SUFFIX[dtype]}.onnx`;
    if (!(await exists(join(dir, file)))) continue;
    let bytes = (await stat(join(dir, file))).size;
    for (const entry of await readdir(join(dir, 'onnx'))) {
      if (entry.startsWith(`model${SUFFIX[dtype]}.onnx_data`)) bytes += (await stat(join(dir, 'onnx', entry))).size;
    }
    const hidden = config['hidden_size'];
    return { dir, modelType: config['model_type'], file, dtype, bytes, ...(typeof hidden === 'number' ? { hiddenSize: hidden } : {}) };
  }
  throw missing(dir, 'onnx/model.onnx');
}
