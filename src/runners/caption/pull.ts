/**
 * `hearth models pull` for the caption model: downloads a transformers.js model folder from a Hugging
 * Face compatible endpoint (`<endpoint>/<repo>/resolve/main/<file>`), file by file, resumable (a
 * partial `.part` file continues with an HTTP Range request), with progress.
 */
import { createWriteStream, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { HearthError } from '../../engine/types.js';
import { FAMILIES, MODEL_TYPES } from './model-folder.js';

/** The caption model `hearth models pull` fetches when the config names none. */
export const DEFAULT_CAPTION_SOURCE = 'hf:Xenova/vit-gpt2-image-captioning';
export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export interface CaptionPullProgress {
  file: string;
  downloadedBytes: number;
  totalBytes: number;
}

export interface PullCaptionModelOptions {
  /** `hf:owner/repo`. */
  source: string;
  /** The model folder to fill (`models.caption.dir`). */
  dir: string;
  endpoint?: string;
  fetch?: typeof fetch;
  onProgress?: (p: CaptionPullProgress) => void;
  signal?: AbortSignal;
}

function repoOf(source: string): string {
  const m = /^hf:([\w.-]+\/[\w.-]+)$/.exec(source);
  if (!m) {
    throw new HearthError('INVALID_INPUT', `a caption model source must look like hf:owner/repo; got ${JSON.stringify(source)}`, { given: source });
  }
  return m[1]!;
}

/** Downloads what the folder needs; files already complete are skipped. Returns the files fetched. */
export async function pullCaptionModel(opts: PullCaptionModelOptions): Promise<{ dir: string; files: string[] }> {
  const repo = repoOf(opts.source);
  const base = `${(opts.endpoint ?? DEFAULT_ENDPOINT).replace(/\/+$/, '')}/${repo}/resolve/main/`;
  const doFetch = opts.fetch ?? fetch;
  const fetched: string[] = [];
  const get = async (file: string, optional: boolean): Promise<boolean> => {
    const done = await download(doFetch, base + file, join(opts.dir, file), file, optional, opts);
    if (done) fetched.push(file);
    return done || existsSync(join(opts.dir, file));
  };

  await get('config.json', false);
  const { readFile } = await import('node:fs/promises');
  const config = JSON.parse(await readFile(join(opts.dir, 'config.json'), 'utf8')) as { model_type?: string };
  const family = MODEL_TYPES[config.model_type ?? ''];
  if (!family) {
    throw new HearthError('MODEL_INVALID', `${opts.source} is a "${config.model_type}" model; hearth captions with ${Object.keys(MODEL_TYPES).join(', ')}`, {
      given: config.model_type ?? null,
      allowed: Object.keys(MODEL_TYPES),
    });
  }
  const spec = FAMILIES[family];
  for (const f of spec.files) if (f !== 'config.json') await get(f, false);
  for (const f of [...spec.optionalFiles, 'special_tokens_map.json']) await get(f, true);
  for (const s of spec.sessions) await get(`onnx/${s}.onnx`, false);
  return { dir: opts.dir, files: fetched };
}

/** Fetches one file, resuming a `.part`. Returns false for a missing optional file or one already complete. */
export async function download(
  doFetch: typeof fetch,
  url: string,
  dest: string,
  file: string,
  optional: boolean,
  opts: PullCaptionModelOptions,
): Promise<boolean> {
  if (existsSync(dest)) return false;
  mkdirSync(dirname(dest), { recursive: true });
  const part = `${dest}.part`;
  const have = existsSync(part) ? statSync(part).size : 0;
  let res: Response;
  try {
    res = await doFetch(url, {
      headers: have > 0 ? { range: `bytes=${have}-` } : {},
      redirect: 'follow',
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    throw new HearthError('DOWNLOAD_FAILED', `could not reach ${url}: ${e instanceof Error ? e.message : String(e)}`, { file });
  }
  if (res.status === 404 && optional) return false;
  if (res.status === 416 && have > 0) {
    // The part file already holds everything.
    renameSync(part, dest);
    return true;
  }
  if (!res.ok || !res.body) {
    throw new HearthError('DOWNLOAD_FAILED', `downloading ${file} failed: HTTP ${res.status} from ${url}`, { file, status: res.status });
  }
  const resumed = res.status === 206;
  const length = Number(res.headers.get('content-length') ?? 0);
  const total = (resumed ? have : 0) + length;
  let got = resumed ? have : 0;
  const body = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
  body.on('data', (chunk: Buffer) => {
    got += chunk.length;
    opts.onProgress?.({ file, downloadedBytes: got, totalBytes: total });
  });
  await pipeline(body, createWriteStream(part, { flags: resumed ? 'a' : 'w' }), ...(opts.signal ? [{ signal: opts.signal }] : []));
  renameSync(part, dest);
  return true;
}
