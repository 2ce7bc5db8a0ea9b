/**
 * A Hugging Face compatible model hub on 127.0.0.1: `GET /api/models/<owner>/<repo>/tree/main` lists
 * files with sizes and checksums as the real hub does (large files with `lfs.oid` = sha256, small ones
 * with the git blob id), and `/<owner>/<repo>/resolve/main/<path>` serves them with byte ranges.
 * Faults on demand: a file cut off once half-way, a file whose listed checksum is wrong, a slow body.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';

export interface HubRequest {
  method: string;
  path: string;
  range: string | undefined;
}

interface HubEntry {
  body: Buffer;
  lfs: boolean;
}

export class FakeModelHub {
  readonly repos = new Map<string, Map<string, HubEntry>>();
  readonly requests: HubRequest[] = [];
  /** `repo/path` of files cut off half-way on their next GET. */
  readonly cutOnce = new Set<string>();
  /** `repo/path` of files listed with a wrong sha256. */
  readonly wrongChecksum = new Set<string>();
  /** Bodies sent in pieces of this many bytes, a macrotask apart (0: at once). */
  slowChunk = 0;
  endpoint = '';
  #server: Server | undefined;

  add(repo: string, path: string, body: Buffer, lfs = body.length > 1024): void {
    let files = this.repos.get(repo);
    if (!files) this.repos.set(repo, (files = new Map()));
    files.set(path, { body, lfs });
  }

  async addFolder(repo: string, dir: string): Promise<void> {
    for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (!e.isFile()) continue;
      const full = join(e.parentPath, e.name);
      this.add(repo, relative(dir, full), await readFile(full));
    }
  }

  async start(): Promise<string> {
    this.#server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://hub');
      const path = decodeURIComponent(url.pathname);
      this.requests.push({ method: req.method ?? 'GET', path, range: req.headers.range });
      const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/main$/.exec(path);
      if (tree) {
        const files = this.repos.get(tree[1]!);
        if (!files) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Repository not found"}');
        const list = [...files].map(([p, f]) => {
          const sha = createHash('sha256').update(f.body).digest('hex');
          const wrong = this.wrongChecksum.has(`${tree[1]}/${p}`) ? createHash('sha256').update('something else').digest('hex') : sha;
          const gitOid = createHash('sha1').update(`blob ${f.body.length}\0`).update(f.body).digest('hex');
          return f.lfs ? { type: 'file', path: p, size: f.body.length, oid: gitOid, lfs: { oid: wrong, size: f.body.length, pointerSize: 134 } } : { type: 'file', path: p, size: f.body.length, oid: gitOid };
        });
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(list));
      }
      const file = /^\/([^/]+\/[^/]+)\/resolve\/main\/(.+)$/.exec(path);
      const entry = file ? this.repos.get(file[1]!)?.get(file[2]!) : undefined;
      if (!file || !entry) return void res.writeHead(404).end('Entry not found');
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      if (start >= entry.body.length && entry.body.length > 0) return void res.writeHead(416, { 'content-range': `bytes */${entry.body.length}` }).end();
      const part = entry.body.subarray(start);
      res.writeHead(m ? 206 : 200, {
        'content-length': String(part.length),
        'accept-ranges': 'bytes',
        ...(m ? { 'content-range': `bytes ${start}-${entry.body.length - 1}/${entry.body.length}` } : {}),
      });
      if (req.method === 'HEAD') return void res.end();
      if (this.cutOnce.delete(`${file[1]}/${file[2]}`)) {
        // End the connection after the half (FIN, not RST): the client gets the bytes, then a premature end.
        res.write(part.subarray(0, Math.floor(part.length / 2)), () => res.socket?.end());
        return;
      }
      if (this.slowChunk <= 0) return void res.end(part);
      let at = 0;
      const next = (): void => {
        if (res.destroyed) return;
        if (at >= part.length) return void res.end();
        const piece = part.subarray(at, at + this.slowChunk);
        at += piece.length;
        res.write(piece, () => setImmediate(next));
      };
      next();
    });
    await new Promise<void>((r) => this.#server?.listen(0, '127.0.0.1', r));
    this.endpoint = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this.endpoint;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }
}
