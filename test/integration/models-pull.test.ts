import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HearthError } from '../../src/engine/types.js';
import { chatModelsDir, pullChatModel, resolveChatModelPath } from '../../src/runners/llm/pull.js';
import { writeTinyGguf } from '../fixtures/tiny-gguf.js';

const MB = 1024 * 1024;

interface Served {
  method: string;
  path: string;
  start: number | null;
  end: number | null;
}

/**
 * Serves files the way the Hugging Face hub does for node-llama-cpp: `/<user>/<repo>/resolve/main/<file>`
 * with HEAD/GET and byte ranges (206 + Content-Range), and `/v2/<user>/<repo>/manifests/<tag>` naming
 * the GGUF file of a quantization tag.
 */
class FakeHub {
  readonly files = new Map<string, Buffer>();
  readonly manifests = new Map<string, string>();
  readonly log: Served[] = [];
  /** Called for each ranged GET before the body is sent; may take over the response. */
  intercept: ((req: IncomingMessage, res: ServerResponse, body: Buffer, start: number, end: number) => boolean) | undefined;
  private server: Server | undefined;
  endpoint = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = decodeURIComponent(url.pathname);
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    this.log.push({ method: req.method ?? '', path, start: range ? Number(range[1]) : null, end: range?.[2] ? Number(range[2]) : null });
    const manifest = /^\/v2\/(.+)\/manifests\/(.+)$/.exec(path);
    if (manifest) {
      const file = this.manifests.get(`${manifest[1]}:${manifest[2]}`);
      if (!file) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ggufFile: { rfilename: file } }));
      return;
    }
    const body = this.files.get(path);
    if (!body) return void res.writeHead(404).end('not found');
    let start = 0;
    let end = body.length - 1;
    const headers: Record<string, string> = { 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream', etag: '"v1"' };
    let status = 200;
    if (range) {
      start = Number(range[1]);
      if (range[2]) end = Math.min(Number(range[2]), body.length - 1);
      if (start > end) return void res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${body.length}`;
    }
    headers['content-length'] = String(end - start + 1);
    if (req.method === 'HEAD') return void res.writeHead(status, headers).end();
    res.writeHead(status, headers);
    if (range && this.intercept?.(req, res, body, start, end)) return;
    res.end(body.subarray(start, end + 1));
  }
}

let hub: FakeHub;
let dir: string;
let tiny: Buffer;
let big: Buffer;
let huge: Buffer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hearth-pull-'));
  await writeTinyGguf(join(dir, 'tiny.gguf'));
  tiny = await readFile(join(dir, 'tiny.gguf'));
  // Big enough for several of the downloader's 5 MiB chunks, so resuming is visible.
  big = randomBytes(30 * MB);
  big.write('GGUF', 0, 'latin1');
  huge = Buffer.concat([big, big]);
  hub = new FakeHub();
  hub.files.set('/someone/tiny-GGUF/resolve/main/tiny.gguf', tiny);
  hub.files.set('/someone/tiny-GGUF/resolve/main/tiny.Q8_0.gguf', tiny);
  hub.manifests.set('someone/tiny-GGUF:Q8_0', 'tiny.Q8_0.gguf');
  hub.files.set('/someone/big-GGUF/resolve/main/cut.gguf', big);
  hub.files.set('/someone/huge-GGUF/resolve/main/huge.gguf', huge);
  await hub.start();
});

afterAll(async () => {
  await hub?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('pullChatModel', () => {
  it('downloads an hf: file URI from the configured endpoint with progress, then finds it', async () => {
    const dataDir = join(dir, 'data1');
    const progress: Array<{ downloadedBytes: number; totalBytes: number }> = [];
    const { path } = await pullChatModel({
      uri: 'hf:someone/tiny-GGUF/tiny.gguf',
      dirPath: chatModelsDir(dataDir),
      endpoint: hub.endpoint,
      onProgress: (p) => progress.push(p),
    });
    expect(path.startsWith(chatModelsDir(dataDir))).toBe(true);
    expect((await readFile(path)).equals(tiny)).toBe(true);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toEqual({ downloadedBytes: tiny.length, totalBytes: tiny.length });
    expect(hub.log.some((r) => r.path === '/someone/tiny-GGUF/resolve/main/tiny.gguf' && r.method === 'GET')).toBe(true);

    expect(await resolveChatModelPath('hf:someone/tiny-GGUF/tiny.gguf', dataDir, { endpoint: hub.endpoint })).toBe(path);
    // Pulling again finds the complete file and downloads nothing.
    const before = hub.log.filter((r) => r.start !== null).length;
    expect((await pullChatModel({ uri: 'hf:someone/tiny-GGUF/tiny.gguf', dirPath: chatModelsDir(dataDir), endpoint: hub.endpoint })).path).toBe(path);
    expect(hub.log.filter((r) => r.start !== null).length).toBe(before);
  });

  it('resolves a quantization tag through the manifest', async () => {
    const { path } = await pullChatModel({ uri: 'hf:someone/tiny-GGUF:Q8_0', dirPath: join(dir, 'data2', 'models'), endpoint: hub.endpoint });
    expect((await readFile(path)).equals(tiny)).toBe(true);
    expect(hub.log.some((r) => r.path === '/v2/someone/tiny-GGUF/manifests/Q8_0')).toBe(true);
  });

  it('says what is missing', async () => {
    const error = await pullChatModel({ uri: 'hf:someone/tiny-GGUF/absent.gguf', dirPath: join(dir, 'data3'), endpoint: hub.endpoint }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HearthError);
    expect((error as HearthError).code).toBe('DOWNLOAD_FAILED');
    expect((error as HearthError<'DOWNLOAD_FAILED'>).facts.uri).toBe('hf:someone/tiny-GGUF/absent.gguf');

    const missing = await resolveChatModelPath('hf:someone/tiny-GGUF/never-pulled.gguf', join(dir, 'data3')).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(HearthError);
    expect((missing as HearthError).code).toBe('MODEL_MISSING');
    expect((missing as HearthError).message).toContain('hearth models pull');
    expect(await resolveChatModelPath('/models/local.gguf', join(dir, 'data3'))).toBe('/models/local.gguf');
  });

  it('continues after a cut connection from the last complete chunk, not from the start', async () => {
    const cutAfter = 6 * MB;
    const cut: Array<{ start: number; sent: number }> = [];
    hub.intercept = (req, res, body, start, end) => {
      if (!req.url?.includes('cut.gguf') || cut.length > 0) return false;
      cut.push({ start, sent: Math.min(cutAfter, end - start + 1) });
      res.write(body.subarray(start, start + cutAfter), () => res.destroy());
      return true;
    };
    try {
      const { path } = await pullChatModel({ uri: 'hf:someone/big-GGUF/cut.gguf', dirPath: join(dir, 'data4'), endpoint: hub.endpoint });
      expect((await readFile(path)).equals(big)).toBe(true);
    } finally {
      hub.intercept = undefined;
    }
    const [{ start, sent }] = cut as [{ start: number; sent: number }];
    const resumed = hub.log.filter((r) => r.path.endsWith('/cut.gguf') && r.start !== null && r.start > start && r.start <= start + sent);
    expect(resumed.length).toBeGreaterThan(0);
  });

  it('resumes an interrupted pull in a later call', async () => {
    const dirPath = join(dir, 'data5');
    const controller = new AbortController();
    const first = await pullChatModel({
      uri: 'hf:someone/huge-GGUF/huge.gguf',
      dirPath,
      endpoint: hub.endpoint,
      signal: controller.signal,
      onProgress: (p) => {
        // Half-way, each of the downloader's connections has finished a chunk or more.
        if (p.downloadedBytes >= huge.length / 2) controller.abort(new Error('user stopped the pull'));
      },
    }).catch((e: unknown) => e);
    expect((first as Error).message).toBe('user stopped the pull');
    expect(await readdir(dirPath)).toContain('hf_someone_huge.gguf.ipull');

    const logStart = hub.log.length;
    const { path } = await pullChatModel({ uri: 'hf:someone/huge-GGUF/huge.gguf', dirPath, endpoint: hub.endpoint });
    expect((await readFile(path)).equals(huge)).toBe(true);
    expect(await readdir(dirPath)).not.toContain('hf_someone_huge.gguf.ipull');
    // Some chunk finished in the first attempt was not asked for again.
    const chunk = 5 * MB;
    const asked = new Array<boolean>(Math.ceil(huge.length / chunk)).fill(false);
    for (const r of hub.log.slice(logStart))
      if (r.method === 'GET' && r.start !== null)
        for (let c = Math.floor(r.start / chunk); c * chunk <= (r.end ?? huge.length - 1); c++) asked[c] = true;
    expect(asked.some((a) => !a)).toBe(true);
  });
});
