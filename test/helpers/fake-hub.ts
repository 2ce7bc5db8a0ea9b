/**
 * A Hugging Face-shaped file server on 127.0.0.1 for `hearth models pull --endpoint`: serves
 * `/<user>/<repo>/resolve/main/<file>` with HEAD, GET and byte ranges (206 + Content-Range), 404 for
 * anything it does not hold. It records what was asked.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export class FakeHub {
  readonly files = new Map<string, Buffer>();
  readonly requests: string[] = [];
  #server: Server | undefined;
  endpoint = '';

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://hub').pathname);
      this.requests.push(`${req.method ?? ''} ${path}`);
      const body = this.files.get(path);
      if (!body) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('Entry not found');
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      const start = range ? Number(range[1]) : 0;
      const end = range?.[2] ? Math.min(Number(range[2]), body.length - 1) : body.length - 1;
      const headers: Record<string, string> = {
        'accept-ranges': 'bytes',
        'content-type': 'application/octet-stream',
        'content-length': String(end - start + 1),
        etag: '"v1"',
      };
      if (range) headers['content-range'] = `bytes ${start}-${end}/${body.length}`;
      res.writeHead(range ? 206 : 200, headers);
      if (req.method === 'HEAD') return void res.end();
      res.end(body.subarray(start, end + 1));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.#server = server;
    this.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
