/**
 * `hearth models pull` for the embedding model (`models.embedding`, default Xenova/all-MiniLM-L6-v2,
 * about 90 MB in fp32): the files a feature-extraction folder needs, fetched as the caption model's are
 * (resumable `.part` files, progress).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HearthError } from '../../engine/types.js';
import { DEFAULT_ENDPOINT, download, type CaptionPullProgress } from '../caption/pull.js';
import { EMBED_FILES, EMBED_OPTIONAL_FILES } from './model-folder.js';

/** The embedding model `hearth models pull` fetches when the config names no source. */
export const DEFAULT_EMBEDDING_SOURCE = 'hf:Xenova/all-MiniLM-L6-v2';

export interface PullEmbeddingModelOptions {
  /** `hf:owner/repo`. */
  source: string;
  /** The model folder to fill (`models.embedding.dir`). */
  dir: string;
  endpoint?: string;
  fetch?: typeof fetch;
  onProgress?: (p: CaptionPullProgress) => void;
  signal?: AbortSignal;
}

/** Downloads what the folder needs (fp32 `onnx/model.onnx`); files already complete are skipped. */
export async function pullEmbeddingModel(opts: PullEmbeddingModelOptions): Promise<{ dir: string; files: string[] }> {
  const m = /^hf:([\w.-]+\/[\w.-]+)$/.exec(opts.source);
  if (!m) throw new HearthError('INVALID_INPUT', `an embedding model source must look like hf:owner/repo; got ${JSON.stringify(opts.source)}`, { given: opts.source });
  const base = `${(opts.endpoint ?? DEFAULT_ENDPOINT).replace(/\/+$/, '')}/${m[1]!}/resolve/main/`;
  const doFetch = opts.fetch ?? fetch;
  const fetched: string[] = [];
  const pullOpts = { source: opts.source, dir: opts.dir, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}), ...(opts.signal ? { signal: opts.signal } : {}) };
  for (const [file, optional] of [...EMBED_FILES.map((f) => [f, false] as const), ...EMBED_OPTIONAL_FILES.map((f) => [f, true] as const), ['onnx/model.onnx', false] as const]) {
    if (await download(doFetch, base + file, join(opts.dir, file), file, optional, pullOpts)) fetched.push(file);
    else if (!optional && !existsSync(join(opts.dir, file))) throw new HearthError('DOWNLOAD_FAILED', `${file} could not be downloaded from ${base}`, { file });
  }
  return { dir: opts.dir, files: fetched };
}
