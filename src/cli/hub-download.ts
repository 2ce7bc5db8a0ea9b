/**
 * Files from a Hugging Face compatible hub, for the recommended defaults (`hearth models pull
 * --defaults` and the console's first run): the file list with sizes and checksums from the hub's own
 * metadata (`/api/models/<repo>/tree/main`), then each file resumably (a `.part` continued with an
 * HTTP Range request), verified against that checksum before it takes its name. Retries are bounded,
 * and a hub that cannot be reached at all is said so at once, not after minutes of retries.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { setTimeout as sleep } from 'node:timers/promises';
import { HearthError } from '../engine/types.js';

export const DEFAULT_HUB = 'https://huggingface.co';

/** `--endpoint`, else `HF_ENDPOINT` (as huggingface_hub reads it), else huggingface.co; no trailing slash. */
export function hubEndpoint(given?: string, env: NodeJS.ProcessEnv = process.env): string {
  return (given || env.HF_ENDPOINT || DEFAULT_HUB).replace(/\/+$/, '');
}

export interface HubFile {
  /** Path inside the repository. */
  path: string;
  size: number;
  /** sha256 of the content: the hub's LFS object id (large files). */
  sha256?: string;
  /** The git blob id (sha1 of `blob <size>\0<content>`), which checks the small files that are not in LFS. */
  gitOid?: string;
}

export interface HubOptions {
  endpoint: string;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /** How long the hub may take to answer (headers, or the next bytes of a body); default 20 s. */
  timeoutMs?: number;
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ECONNRESET', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

/** The network error's code (undici puts it on `cause`). */
function netCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    if ((cur as { name?: unknown }).name === 'TimeoutError') return 'ETIMEDOUT';
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The one line said when the hub cannot be reached, with what to do instead. */
export function unreachable(endpoint: string, e: unknown): HearthError<'DOWNLOAD_FAILED'> {
  const code = netCode(e) ?? (e instanceof Error ? e.message : String(e));
  const host = new URL(endpoint).host;
  return new HearthError(
    'DOWNLOAD_FAILED',
    `cannot reach the model hub at ${host} (${code}): check the network, or use a mirror with --endpoint URL (or HF_ENDPOINT), or download the files elsewhere and name them in the config (models.chat.path, models.caption.dir, models.image.dir)`,
    { url: endpoint, host, reason: 'unreachable', error: code },
  );
}

function withTimeout(signal: AbortSignal | undefined, ms: number): AbortSignal {
  const t = AbortSignal.timeout(ms);
  return signal ? AbortSignal.any([signal, t]) : t;
}

/** Every file of `repo` at main, with sizes and checksums, following the hub's pagination. */
export async function listHubFiles(repo: string, opts: HubOptions): Promise<HubFile[]> {
  const doFetch = opts.fetch ?? fetch;
  const out: HubFile[] = [];
  let url: string | undefined = `${opts.endpoint}/api/models/${repo}/tree/main?recursive=true`;
  while (url) {
    let res: Response;
    try {
      res = await doFetch(url, { signal: withTimeout(opts.signal, opts.timeoutMs ?? 20_000) });
    } catch (e) {
      opts.signal?.throwIfAborted();
      throw unreachable(opts.endpoint, e);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new HearthError('DOWNLOAD_FAILED', `the hub at ${new URL(opts.endpoint).host} has no file list for ${repo} (HTTP ${res.status})`, { url, status: res.status });
    }
    const entries = (await res.json()) as Array<{ type?: string; path?: string; size?: number; oid?: string; lfs?: { oid?: string; sha256?: string; size?: number } }>;
    for (const e of entries) {
      if (e.type !== 'file' || typeof e.path !== 'string') continue;
      const sha256 = e.lfs?.oid ?? e.lfs?.sha256;
      out.push({ path: e.path, size: e.lfs?.size ?? e.size ?? 0, ...(sha256 ? { sha256 } : {}), ...(e.oid && !sha256 ? { gitOid: e.oid } : {}) });
    }
    const next = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get('link') ?? '');
    url = next ? new URL(next[1]!, opts.endpoint).href : undefined;
  }
  return out;
}

export interface DownloadFileOptions extends HubOptions {
  repo: string;
  file: HubFile;
  dest: string;
  /** Bytes of this file on disk so far (resumed bytes included). */
  onProgress?: (bytes: number) => void;
  /** Connections tried for one file before giving up; default 4. */
  attempts?: number;
}

/** Hashes a file on disk the way the hub names it (sha256, or the git blob sha1). */
async function checksumOf(path: string, file: HubFile): Promise<{ kind: 'sha256' | 'git-sha1'; expected: string; got: string } | undefined> {
  const expected = file.sha256 ?? file.gitOid;
  if (!expected) return undefined;
  const kind = file.sha256 ? 'sha256' : 'git-sha1';
  const hash = createHash(kind === 'sha256' ? 'sha256' : 'sha1');
  if (kind === 'git-sha1') hash.update(`blob ${statSync(path).size}\0`);
  await pipeline(createReadStream(path), hash);
  return { kind, expected: expected.toLowerCase(), got: hash.digest('hex') };
}

/**
 * Downloads one file to `dest` (or finds it complete there). A `.part` left by an interruption is
 * continued; a connection cut mid-way is retried from where it stopped, up to `attempts` times; the
 * finished file is checked against the hub's checksum, and a mismatch is deleted and refused.
 */
export async function downloadHubFile(opts: DownloadFileOptions): Promise<'present' | 'downloaded'> {
  const { file, dest } = opts;
  if (existsSync(dest) && statSync(dest).size === file.size) return 'present';
  mkdirSync(dirname(dest), { recursive: true, mode: 0o700 });
  const part = `${dest}.part`;
  const url = `${opts.endpoint}/${opts.repo}/resolve/main/${file.path.split('/').map(encodeURIComponent).join('/')}`;
  const doFetch = opts.fetch ?? fetch;
  const attempts = opts.attempts ?? 4;
  let lastError: unknown;
  for (let attempt = 1; ; attempt++) {
    let have = existsSync(part) ? statSync(part).size : 0;
    if (have > file.size) {
      rmSync(part);
      have = 0;
    }
    opts.onProgress?.(have);
    if (have < file.size || file.size === 0) {
      try {
        await fetchInto(doFetch, url, part, have, opts);
      } catch (e) {
        opts.signal?.throwIfAborted();
        lastError = e;
        const code = netCode(e);
        const nothingYet = attempt === 1 && !existsSync(part);
        // Nothing answers at all: say so now rather than after every retry.
        if (nothingYet && code !== undefined && CONNECT_CODES.has(code) && code !== 'ECONNRESET') throw unreachable(opts.endpoint, e);
        if (e instanceof HearthError || attempt >= attempts) break;
        await sleep(500 * attempt, undefined, opts.signal ? { signal: opts.signal } : {});
        continue;
      }
    }
    const sum = await checksumOf(part, file);
    if (sum && sum.got !== sum.expected) {
      rmSync(part, { force: true });
      throw new HearthError(
        'DOWNLOAD_FAILED',
        `${file.path} from ${opts.repo} does not match the hub's checksum (${sum.kind} expected ${sum.expected}, got ${sum.got}); refused and deleted — run the same command again to download it afresh`,
        { url, file: file.path, reason: 'checksum', found: sum.got },
      );
    }
    renameSync(part, dest);
    return 'downloaded';
  }
  if (lastError instanceof HearthError) throw lastError;
  const words = lastError instanceof Error ? `${lastError.message}${netCode(lastError) ? ` (${netCode(lastError)})` : ''}` : String(lastError);
  throw new HearthError('DOWNLOAD_FAILED', `downloading ${file.path} from ${opts.repo} failed after ${attempts} attempts: ${words}; run the same command again to resume`, {
    url, file: file.path, error: words,
  });
}

/** One GET (ranged from `have`) appended to `part`; a stall longer than the timeout aborts it. */
async function fetchInto(doFetch: typeof fetch, url: string, part: string, have: number, opts: DownloadFileOptions): Promise<void> {
  const stall = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stall.signal]) : stall.signal;
  const timeoutMs = opts.timeoutMs ?? 20_000;
  let timer = setTimeout(() => stall.abort(new Error(`no data for ${timeoutMs / 1000} s`)), timeoutMs);
  const poke = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => stall.abort(new Error(`no data for ${timeoutMs / 1000} s`)), timeoutMs);
  };
  try {
    const res = await doFetch(url, { headers: have > 0 ? { range: `bytes=${have}-` } : {}, redirect: 'follow', signal });
    if (res.status === 416 && have > 0) {
      await res.body?.cancel();
      return;
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new HearthError('DOWNLOAD_FAILED', `the hub answered HTTP ${res.status} for ${url}`, { url, status: res.status });
    }
    const resumed = res.status === 206;
    let got = resumed ? have : 0;
    const body = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
    body.on('data', (chunk: Buffer) => {
      poke();
      got += chunk.length;
      opts.onProgress?.(got);
    });
    await pipeline(body, createWriteStream(part, { flags: resumed ? 'a' : 'w', mode: 0o600 }), { signal });
  } finally {
    clearTimeout(timer);
  }
}
