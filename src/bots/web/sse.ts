import type { IncomingMessage, ServerResponse } from 'node:http';
import { SECURITY_HEADERS } from './http.js';

/** A client that has this much unsent data is too slow to follow the stream: it is dropped (it reconnects). */
const MAX_BUFFERED = 4 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;

interface Client {
  res: ServerResponse;
}

/**
 * Server-sent event streams, grouped by key (a browser session, or the dashboard). Streams are
 * written uncompressed and flushed per event: a compressing layer would hold events back.
 * A comment line every 15 s keeps idle connections (and proxies) from timing out.
 */
export class SseHub<K> {
  readonly #clients = new Map<K, Set<Client>>();
  readonly #maxClients: number;
  #heartbeat: NodeJS.Timeout | undefined;
  #total = 0;

  constructor(opts: { maxClients?: number } = {}) {
    this.#maxClients = opts.maxClients ?? 200;
  }

  /**
   * Answers the request with an event stream and registers it under `key`. Returns false (and
   * answers 503) when too many streams are open.
   */
  open(key: K, req: IncomingMessage, res: ServerResponse, headers: Record<string, string> = {}): boolean {
    if (this.#total >= this.#maxClients) {
      res.writeHead(503, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '10' });
      res.end('Too many open console tabs; close one and reload.');
      return false;
    }
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      ...headers,
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    const client: Client = { res };
    let set = this.#clients.get(key);
    if (!set) this.#clients.set(key, (set = new Set()));
    set.add(client);
    this.#total++;
    this.#heartbeat ??= setInterval(() => this.#ping(), HEARTBEAT_MS).unref();
    const remove = (): void => {
      const s = this.#clients.get(key);
      if (!s?.delete(client)) return;
      this.#total--;
      if (s.size === 0) this.#clients.delete(key);
    };
    // The response's close (not the request's, which may come once its empty body is read) is the
    // stream's end: the browser went away or the console closed it.
    res.on('close', remove);
    req.socket.setKeepAlive(true);
    return true;
  }

  /** Streams open under `key`. */
  count(key: K): number {
    return this.#clients.get(key)?.size ?? 0;
  }

  has(key: K): boolean {
    return this.count(key) > 0;
  }

  send(key: K, data: unknown): void {
    const set = this.#clients.get(key);
    if (!set) return;
    const frame = `data: ${JSON.stringify(data)}\n\n`;
    for (const c of set) this.#write(c, frame);
  }

  /** Sends one event to a single stream just opened (the greeting with the current state). */
  sendTo(res: ServerResponse, data: unknown): void {
    if (!res.writableEnded) res.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  /** Ends every stream (shutdown). Browsers reconnect on their own once the console is back. */
  closeAll(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    for (const set of this.#clients.values()) for (const c of set) c.res.end();
    this.#clients.clear();
    this.#total = 0;
  }

  #write(c: Client, frame: string): void {
    if (c.res.writableEnded || c.res.destroyed) return;
    if (c.res.writableLength > MAX_BUFFERED) {
      c.res.destroy();
      return;
    }
    c.res.write(frame);
  }

  #ping(): void {
    for (const set of this.#clients.values()) for (const c of set) this.#write(c, ': ping\n\n');
  }
}
