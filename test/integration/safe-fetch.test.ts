import { lookup } from 'node:dns/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import assert from 'node:assert/strict';
import type { ErrorInfo, Result } from '../../src/engine/types.js';
import { fetchImage, type FetchedImage } from '../../src/media/safe-fetch.js';
import { pngImage } from '../fixtures/caption/images.js';

interface SeenRequest {
  url: string;
  headers: IncomingMessage['headers'];
}

interface TestServer {
  host: string;
  port: number;
  seen: SeenRequest[];
  close: () => Promise<void>;
}

const servers: TestServer[] = [];

async function startServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  host = '127.0.0.1',
): Promise<TestServer> {
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  const s: TestServer = {
    host,
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function expectError(r: Result<FetchedImage>): ErrorInfo {
  if (r.ok) throw new Error(`expected an error, got ${r.value.bytes.length} bytes`);
  return r.error;
}

function expectOk(r: Result<FetchedImage>): FetchedImage {
  if (!r.ok) throw new Error(`expected bytes, got ${r.error.code}: ${r.error.message}`);
  return r.value;
}

const url = (s: TestServer, path = '/img.png'): string => `http://${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}${path}`;

/** Writes `chunk` until the client goes away or `limit` bytes are out, respecting backpressure. */
function streamUntilClosed(res: ServerResponse, chunk: Buffer, limit: number, log: { written: number; closed: boolean }): void {
  res.on('close', () => {
    log.closed = true;
  });
  const pump = (): void => {
    while (!log.closed && log.written < limit) {
      log.written += chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    if (!log.closed) res.end();
  };
  pump();
}

describe('fetchImage', () => {
  it('downloads from an allowed host (any port)', async () => {
    const png = await pngImage();
    const s = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length });
      res.end(png);
    });
    const got = expectOk(await fetchImage(url(s), { allowedHosts: ['127.0.0.1'], maxBytes: 1_000_000 }));
    expect(Buffer.from(got.bytes).equals(png)).toBe(true);
    expect(got).toMatchObject({ contentType: 'image/png', redirects: 0, finalUrl: url(s) });
  });

  it('refuses a host that is not allowed without making a request', async () => {
    const s = await startServer((_req, res) => res.end('x'));
    const spy = vi.fn(fetch);
    const e = expectError(await fetchImage(url(s), { allowedHosts: ['cdn.discordapp.com'], maxBytes: 1000, fetch: spy }));
    expect(e.code).toBe('HOST_NOT_ALLOWED');
    expect(e.facts).toMatchObject({ host: '127.0.0.1', allowedHosts: ['cdn.discordapp.com'], hop: 0 });
    expect(spy).not.toHaveBeenCalled();
    expect(s.seen).toHaveLength(0);
  });

  it('refuses schemes other than http and https', async () => {
    const spy = vi.fn(fetch);
    for (const u of ['file:///etc/passwd', 'ftp://127.0.0.1/x.png', 'data:image/png;base64,AAAA']) {
      const e = expectError(await fetchImage(u, { allowedHosts: ['127.0.0.1', ''], maxBytes: 1000, fetch: spy }));
      expect(e.code).toBe('HOST_NOT_ALLOWED');
    }
    expect(spy).not.toHaveBeenCalled();
  });

  it('cuts off an endless body as soon as it passes the cap, closing the connection', async () => {
    const maxBytes = 256 * 1024;
    const whole = 1024 * 1024 * 1024;
    const log = { written: 0, closed: false };
    let serverClosed!: () => void;
    const closed = new Promise<void>((resolve) => (serverClosed = resolve));
    const s = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png' });
      res.on('close', () => serverClosed());
      streamUntilClosed(res, Buffer.alloc(16 * 1024, 7), whole, log);
    });

    const e = expectError(await fetchImage(url(s), { allowedHosts: ['127.0.0.1'], maxBytes }));
    assert(e.code === 'IMAGE_TOO_LARGE');
    const received = Number(e.facts?.receivedBytes);
    expect(received).toBeGreaterThan(maxBytes);
    // Stopped within one read of the cap, not after the body.
    expect(received).toBeLessThanOrEqual(maxBytes + 128 * 1024);
    expect(e.facts?.allowedBytes).toBe(maxBytes);

    await closed;
    expect(log.closed).toBe(true);
    // What the server got out is the cap plus what the socket buffers held — megabytes, not the gigabyte.
    expect(log.written).toBeLessThan(maxBytes + 16 * 1024 * 1024);
  });

  it('refuses a declared Content-Length over the cap before reading the body', async () => {
    const log = { written: 0, closed: false };
    let serverClosed!: () => void;
    const closed = new Promise<void>((resolve) => (serverClosed = resolve));
    const declared = 64 * 1024 * 1024;
    const s = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': declared });
      res.on('close', () => serverClosed());
      streamUntilClosed(res, Buffer.alloc(16 * 1024, 1), declared, log);
    });
    const e = expectError(await fetchImage(url(s), { allowedHosts: ['127.0.0.1'], maxBytes: 1024 * 1024 }));
    expect(e.code).toBe('IMAGE_TOO_LARGE');
    expect(e.facts).toEqual({ declaredBytes: declared, allowedBytes: 1024 * 1024 });
    await closed;
    expect(log.written).toBeLessThan(declared);
  });

  it('refuses a redirect to a host that is not allowed, without contacting it', async () => {
    const target = await startServer((_req, res) => res.end('should not be reached'));
    const s = await startServer((_req, res) => {
      res.writeHead(302, { location: `http://localhost:${target.port}/elsewhere.png` });
      res.end();
    });
    const e = expectError(await fetchImage(url(s), { allowedHosts: ['127.0.0.1'], maxBytes: 1000 }));
    expect(e.code).toBe('HOST_NOT_ALLOWED');
    expect(e.facts).toMatchObject({ host: 'localhost', hop: 1 });
    expect(s.seen).toHaveLength(1);
    expect(target.seen).toHaveLength(0);
  });

  it("never forwards a host's token to the host it redirects to", async () => {
    const png = await pngImage();
    const { address } = await lookup('localhost');
    const cdn = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end(png);
    }, address);
    const platform = await startServer((_req, res) => {
      res.writeHead(307, { location: `http://localhost:${cdn.port}/signed/img.png?sig=1` });
      res.end();
    });
    const asked: string[] = [];
    const got = expectOk(
      await fetchImage(url(platform), {
        allowedHosts: ['127.0.0.1', 'localhost'],
        maxBytes: 1_000_000,
        headersForHost: (host) => {
          asked.push(host);
          return host === '127.0.0.1' ? { authorization: 'Bearer platform-secret' } : undefined;
        },
      }),
    );
    expect(Buffer.from(got.bytes).equals(png)).toBe(true);
    expect(got.redirects).toBe(1);
    expect(asked).toEqual(['127.0.0.1', 'localhost']);
    expect(platform.seen[0]?.headers['authorization']).toBe('Bearer platform-secret');
    expect(cdn.seen).toHaveLength(1);
    expect(cdn.seen[0]?.headers['authorization']).toBeUndefined();
  });

  it('sends no token over plain http to a host that is not loopback', async () => {
    const seen: Headers[] = [];
    const fake: typeof fetch = async (_input, init) => {
      seen.push(new Headers(init?.headers));
      return new Response(new Uint8Array([1, 2, 3]), { status: 200 });
    };
    const headersForHost = (): Record<string, string> => ({ authorization: 'Bearer t' });
    expectOk(await fetchImage('http://files.example.com/a.png', { allowedHosts: ['files.example.com'], maxBytes: 10, fetch: fake, headersForHost }));
    expectOk(await fetchImage('https://files.example.com/a.png', { allowedHosts: ['files.example.com'], maxBytes: 10, fetch: fake, headersForHost }));
    expect(seen[0]?.get('authorization')).toBeNull();
    expect(seen[1]?.get('authorization')).toBe('Bearer t');
  });

  it('follows at most 3 redirects', async () => {
    const s = await startServer((req, res) => {
      const n = Number(req.url?.slice(1) ?? '0');
      res.writeHead(302, { location: `/${n + 1}` });
      res.end();
    });
    const e = expectError(await fetchImage(url(s, '/0'), { allowedHosts: ['127.0.0.1'], maxBytes: 1000 }));
    expect(e.code).toBe('DOWNLOAD_FAILED');
    expect(e.facts).toMatchObject({ reason: 'redirects', maxRedirects: 3 });
    expect(s.seen.map((r) => r.url)).toEqual(['/0', '/1', '/2', '/3']);
  });

  it('reports an HTTP error status', async () => {
    const s = await startServer((_req, res) => {
      res.writeHead(404);
      res.end('gone');
    });
    const e = expectError(await fetchImage(url(s), { allowedHosts: ['127.0.0.1'], maxBytes: 1000 }));
    expect(e.code).toBe('DOWNLOAD_FAILED');
    expect(e.facts).toMatchObject({ status: 404 });
  });

  it('reports a network failure', async () => {
    const s = await startServer((_req, res) => res.end());
    const port = s.port;
    servers.splice(servers.indexOf(s), 1);
    await s.close();
    const e = expectError(await fetchImage(`http://127.0.0.1:${port}/x.png`, { allowedHosts: ['127.0.0.1'], maxBytes: 1000 }));
    expect(e.code).toBe('DOWNLOAD_FAILED');
    expect(e.facts).toMatchObject({ reason: 'network' });
  });

  it('reports a timeout when the server never answers', async () => {
    const s = await startServer(() => undefined);
    const e = expectError(await fetchImage(url(s), { allowedHosts: ['127.0.0.1'], maxBytes: 1000, timeoutMs: 150 }));
    expect(e.code).toBe('DOWNLOAD_FAILED');
    expect(e.facts).toMatchObject({ reason: 'timeout', timeoutMs: 150 });
  });

  it("rejects with the caller's reason when the caller aborts", async () => {
    const s = await startServer(() => undefined);
    const ac = new AbortController();
    const pending = fetchImage(url(s), { allowedHosts: ['127.0.0.1'], maxBytes: 1000, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('cancelled by user')), 20);
    await expect(pending).rejects.toThrow('cancelled by user');
  });
});
