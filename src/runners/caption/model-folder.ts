/**
 * Reads a caption model folder before transformers.js sees it: which family it is (from config.json
 * `model_type`), whether every file that family needs is there, which precision of each ONNX file to
 * load, and how many bytes those files hold. Problems come out as MODEL_MISSING (naming the file)
 * or MODEL_INVALID (naming the file and what is wrong with it), instead of a library stack trace.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HearthError, type Json } from '../../engine/types.js';

/** The caption families hearth runs. */
export type CaptionFamily = 'vision-encoder-decoder' | 'smolvlm';

/** transformers.js precisions, by the file-name suffix each uses. */
export type OnnxDtype = 'fp32' | 'fp16' | 'q8' | 'int8' | 'uint8' | 'q4' | 'q4f16' | 'bnb4';

export const SUFFIX: Record<OnnxDtype, string> = {
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
};

/**
 * Preferred precision when several are present. On CPU, fp32 is fastest and exact and fp16 is slow,
 * so quantized files come before fp16; on CUDA, fp16 halves memory at no real cost.
 */
export const PREFERENCE: Record<'cpu' | 'cuda', OnnxDtype[]> = {
  cpu: ['fp32', 'q8', 'int8', 'uint8', 'q4', 'bnb4', 'fp16', 'q4f16'],
  cuda: ['fp16', 'fp32', 'q4f16', 'q8', 'q4', 'int8', 'uint8', 'bnb4'],
};

export interface FamilySpec {
  /** Files besides the ONNX sessions, relative to the folder. */
  files: string[];
  optionalFiles: string[];
  /** Session names, each an `onnx/<name><suffix>.onnx` file. */
  sessions: string[];
}

export const FAMILIES: Record<CaptionFamily, FamilySpec> = {
  'vision-encoder-decoder': {
    files: ['config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json'],
    optionalFiles: ['generation_config.json'],
    sessions: ['encoder_model', 'decoder_model_merged'],
  },
  smolvlm: {
    files: ['config.json', 'preprocessor_config.json', 'processor_config.json', 'tokenizer.json', 'tokenizer_config.json'],
    optionalFiles: ['generation_config.json'],
    sessions: ['vision_encoder', 'embed_tokens', 'decoder_model_merged'],
  },
};

/** config.json `model_type` → family. SmolVLM checkpoints say `idefics3` (older) or `smolvlm`. */
export const MODEL_TYPES: Record<string, CaptionFamily> = {
  'vision-encoder-decoder': 'vision-encoder-decoder',
  idefics3: 'smolvlm',
  smolvlm: 'smolvlm',
};

export const SUPPORTED_MODEL_TYPES = Object.keys(MODEL_TYPES);

export interface SessionFile {
  /** Session name, e.g. `decoder_model_merged`. */
  name: string;
  /** Path relative to the folder. */
  file: string;
  dtype: OnnxDtype;
  /** Bytes of the .onnx file and any external-data files beside it. */
  bytes: number;
}

export interface CaptionFolder {
  dir: string;
  family: CaptionFamily;
  modelType: string;
  config: Record<string, Json>;
  sessions: SessionFile[];
  totalBytes: number;
}

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function readJsonFile(dir: string, file: string): Promise<Json> {
  const path = join(dir, file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new HearthError('MODEL_MISSING', `caption model file ${file} is missing in ${dir}`, { dir, file });
  }
  try {
    return JSON.parse(text) as Json;
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new HearthError('MODEL_INVALID', `caption model file ${file} is not valid JSON: ${reason}`, { dir, file, reason });
  }
}

function checkFamilyConfig(family: CaptionFamily, config: Record<string, Json>, dir: string): void {
  const bad = (key: string, expected: string): HearthError =>
    new HearthError('MODEL_INVALID', `config.json: ${key} must be ${expected}`, { dir, file: 'config.json', key });
  if (family === 'vision-encoder-decoder') {
    if (!isObject(config['encoder'])) throw bad('encoder', 'an object (the vision encoder config)');
    if (!isObject(config['decoder'])) throw bad('decoder', 'an object (the text decoder config)');
    if (typeof config['decoder']['model_type'] !== 'string') throw bad('decoder.model_type', 'a string');
  } else {
    if (typeof config['image_token_id'] !== 'number' && typeof config['image_token_index'] !== 'number') {
      throw bad('image_token_id', 'a number');
    }
    if (!isObject(config['text_config'])) throw bad('text_config', 'an object (the language model config)');
  }
}

async function sessionBytes(dir: string, file: string): Promise<number> {
  const onnxDir = join(dir, 'onnx');
  const base = file.slice('onnx/'.length);
  let bytes = (await stat(join(dir, file))).size;
  // External weights sit beside the graph as `<file>_data`, `<file>_data_1`, …
  for (const entry of await readdir(onnxDir)) {
    if (entry.startsWith(`${base}_data`)) bytes += (await stat(join(onnxDir, entry))).size;
  }
  return bytes;
}

/**
 * Inspects a folder for loading on `device`. Throws HearthError MODEL_MISSING (folder or a file
 * absent, named in `facts.file`) or MODEL_INVALID (unreadable JSON, unsupported or incomplete config).
 */
export async function inspectCaptionFolder(dir: string, device: 'cpu' | 'cuda' = 'cpu'): Promise<CaptionFolder> {
  let dirStat;
  try {
    dirStat = await stat(dir);
  } catch {
    throw new HearthError('MODEL_MISSING', `caption model folder ${dir} does not exist`, { dir });
  }
  if (!dirStat.isDirectory()) {
    throw new HearthError('MODEL_INVALID', `caption model path ${dir} is not a folder`, { dir });
  }

  const config = await readJsonFile(dir, 'config.json');
  if (!isObject(config)) {
    throw new HearthError('MODEL_INVALID', 'config.json must hold a JSON object', { dir, file: 'config.json' });
  }
  const modelType = config['model_type'];
  if (typeof modelType !== 'string') {
    throw new HearthError('MODEL_INVALID', 'config.json has no model_type', { dir, file: 'config.json' });
  }
  const family = MODEL_TYPES[modelType];
  if (!family) {
    throw new HearthError(
      'MODEL_INVALID',
      `caption model_type "${modelType}" is not supported; supported: ${SUPPORTED_MODEL_TYPES.join(', ')}`,
      { dir, file: 'config.json', modelType, supported: SUPPORTED_MODEL_TYPES },
    );
  }
  checkFamilyConfig(family, config, dir);

  const spec = FAMILIES[family];
  for (const file of spec.files) {
    if (file !== 'config.json') await readJsonFile(dir, file);
  }
  for (const file of spec.optionalFiles) {
    if (await exists(join(dir, file))) await readJsonFile(dir, file);
  }

  const sessions: SessionFile[] = [];
  for (const name of spec.sessions) {
    let found: SessionFile | undefined;
    for (const dtype of PREFERENCE[device]) {
      const file = `onnx/${name}${SUFFIX[dtype]}.onnx`;
      if (await exists(join(dir, file))) {
        found = { name, file, dtype, bytes: await sessionBytes(dir, file) };
        break;
      }
    }
    if (!found) {
      throw new HearthError('MODEL_MISSING', `caption model file onnx/${name}.onnx (or a quantized variant) is missing in ${dir}`, {
        dir,
        file: `onnx/${name}.onnx`,
        lookedFor: PREFERENCE[device].map((d) => `onnx/${name}${SUFFIX[d]}.onnx`),
      });
    }
    sessions.push(found);
  }

  return {
    dir,
    family,
    modelType,
    config,
    sessions,
    totalBytes: sessions.reduce((sum, s) => sum + s.bytes, 0),
  };
}
