/**
 * Inspects a GGUF file before llama.cpp sees it. A few malformed files make llama.cpp abort the whole
 * process from native code (a missing `<arch>.feed_forward_length` or `<arch>.attention.head_count`
 * hits a GGML_ASSERT), so everything that can be checked from the header is checked here, and a bad
 * file becomes a HearthError instead of a dead worker.
 */
import { open, stat } from 'node:fs/promises';
import { GgufInsights, readGgufFileInfo, type GgufFileInfo, type Llama } from 'node-llama-cpp';
import { type FactsOf, HearthError } from '../../engine/types.js';

/** What the inspection found; enough to estimate memory and to load the file. */
export interface ChatModelInspection {
  path: string;
  fileSize: number;
  architecture: string;
  info: GgufFileInfo;
  insights: GgufInsights;
  totalLayers: number;
  trainContextSize: number | undefined;
}

const GGUF_MAGIC = 'GGUF';
const MIN_HEADER_BYTES = 24; // magic, version, tensor count, metadata count

/**
 * Checks that `path` is a complete GGUF file that llama.cpp can load without aborting.
 * Throws HearthError `MODEL_MISSING` (no file) or `MODEL_INVALID` (what was expected and found).
 */
export async function inspectChatModel(
  path: string,
  llama: Llama,
  opts: { signal?: AbortSignal } = {},
): Promise<ChatModelInspection> {
  const fileSize = await fileSizeOf(path);
  if (fileSize < MIN_HEADER_BYTES)
    throw invalid(path, `expected a GGUF file of at least ${MIN_HEADER_BYTES} bytes; found ${fileSize} bytes`, {
      expected: `>= ${MIN_HEADER_BYTES} bytes`,
      found: `${fileSize} bytes`,
    });
  const magic = await readMagic(path);
  if (magic !== GGUF_MAGIC)
    throw invalid(path, `expected a GGUF file (magic "GGUF"); found ${JSON.stringify(magic)}`, {
      expected: GGUF_MAGIC,
      found: magic,
    });

  let info: GgufFileInfo;
  try {
    info = await readGgufFileInfo(path, {
      readTensorInfo: true,
      sourceType: 'filesystem',
      logWarnings: false,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } catch (error) {
    if (opts.signal?.aborted) throw error;
    const found = error instanceof Error ? error.message : String(error);
    throw invalid(path, `expected a readable GGUF header; reading it failed: ${found}`, { expected: 'GGUF header', found });
  }
  // node-llama-cpp's reader reads zeros past the end of a file, so a cut header parses "fine".
  if (info.infoEndOffset !== undefined && info.infoEndOffset > fileSize)
    throw invalid(path, `the file is truncated: its GGUF header needs ${info.infoEndOffset} bytes; found ${fileSize} bytes`, {
      expected: info.infoEndOffset,
      found: fileSize,
    });
  if (info.version !== 2 && info.version !== 3)
    throw invalid(path, `expected GGUF version 2 or 3; found ${info.version}`, { expected: '2 or 3', found: info.version });

  const architecture: unknown = metadataValue(info, 'general.architecture');
  if (typeof architecture !== 'string' || architecture === '')
    throw invalid(path, 'expected the key general.architecture; it is missing', { expected: 'general.architecture', found: 'missing' });

  let insights: GgufInsights;
  try {
    insights = await GgufInsights.from(info, llama);
  } catch (error) {
    const found = error instanceof Error ? error.message : String(error);
    throw invalid(path, `expected tensors llama.cpp knows; reading them failed: ${found}`, { expected: 'known tensor types', found });
  }
  if (!insights.isSupportedByLlamaCpp)
    throw invalid(path, `expected an architecture this llama.cpp supports; found "${architecture}"`, {
      expected: 'an architecture supported by llama.cpp',
      found: architecture,
    });

  checkRequiredKeys(path, info, architecture, insights.isRecurrent);

  // The tensor data must be all there; a cut download otherwise fails deep inside the loader.
  if (info.splicedParts <= 1 && info.infoEndOffset !== undefined) {
    const expectedBytes = info.infoEndOffset + insights.modelSize;
    if (fileSize < expectedBytes)
      throw invalid(path, `the file is truncated: expected at least ${expectedBytes} bytes; found ${fileSize} bytes`, {
        expected: expectedBytes,
        found: fileSize,
      });
  }

  return {
    path,
    fileSize,
    architecture,
    info,
    insights,
    totalLayers: insights.totalLayers,
    trainContextSize: insights.trainContextSize,
  };
}

function invalid(path: string, message: string, facts: FactsOf<'MODEL_INVALID'>): HearthError {
  return new HearthError('MODEL_INVALID', `${path}: ${message}`, { path, ...facts });
}

async function fileSizeOf(path: string): Promise<number> {
  try {
    const s = await stat(path);
    if (!s.isFile()) throw invalid(path, 'expected a .gguf file; found a directory or special file', { expected: 'file', found: 'not a file' });
    return s.size;
  } catch (error) {
    if (error instanceof HearthError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new HearthError('MODEL_MISSING', `no model file at ${path}`, { path });
    throw invalid(path, `expected a readable file; ${code ?? String(error)}`, { expected: 'readable file', found: code ?? 'error' });
  }
}

async function readMagic(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return buf.subarray(0, bytesRead).toString('latin1');
  } finally {
    await fh.close();
  }
}

/** Reads a dotted GGUF key from node-llama-cpp's nested metadata object. */
function metadataValue(info: GgufFileInfo, key: string): unknown {
  let node: unknown = info.metadata;
  for (const part of key.split('.')) {
    if (node === null || typeof node !== 'object' || !(part in node)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function isPositiveInt(v: unknown): boolean {
  return (typeof v === 'number' && Number.isInteger(v) && v > 0) || (typeof v === 'bigint' && v > 0n);
}

/** A per-layer value (number or one number per layer) with at least one layer > 0. */
function isPerLayerCount(v: unknown): boolean {
  if (isPositiveInt(v)) return true;
  return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && x >= 0) && v.some((x) => x > 0);
}

function checkRequiredKeys(path: string, info: GgufFileInfo, arch: string, recurrent: boolean): void {
  const need = (key: string, ok: (v: unknown) => boolean, expected: string): void => {
    const value = metadataValue(info, key);
    if (value === undefined)
      throw invalid(path, `expected the key ${key} (${expected}); it is missing`, { key, expected, found: 'missing' });
    if (!ok(value))
      throw invalid(path, `expected ${key} to be ${expected}; found ${JSON.stringify(String(value))}`, { key, expected, found: String(value) });
  };
  need(`${arch}.context_length`, isPositiveInt, 'a positive integer');
  need(`${arch}.embedding_length`, isPositiveInt, 'a positive integer');
  need(`${arch}.block_count`, isPositiveInt, 'a positive integer');
  if (!recurrent) {
    // These two abort the process from native code when absent.
    need(`${arch}.feed_forward_length`, isPerLayerCount, 'a positive integer or one per layer');
    need(`${arch}.attention.head_count`, isPerLayerCount, 'a positive integer or one per layer');
    const embd = metadataValue(info, `${arch}.embedding_length`);
    const heads = metadataValue(info, `${arch}.attention.head_count`);
    if (typeof embd === 'number' && typeof heads === 'number' && metadataValue(info, `${arch}.attention.key_length`) === undefined && embd % heads !== 0)
      throw invalid(path, `expected ${arch}.embedding_length (${embd}) to be a multiple of ${arch}.attention.head_count (${heads})`, {
        key: `${arch}.attention.head_count`,
        expected: `a divisor of ${embd}`,
        found: heads,
      });
  }
  need('tokenizer.ggml.model', (v) => typeof v === 'string' && v !== '', 'a tokenizer name');
  need('tokenizer.ggml.tokens', (v) => Array.isArray(v) && v.length > 0, 'a non-empty token list');
}
