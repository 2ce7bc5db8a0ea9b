import type { IncomingMessage, ServerResponse } from 'node:http';
import { SECURITY_HEADERS, sendJson } from './http.js';

/** A client that has this much unsent data is too slow to follow the stream: it is dropped (it reconnects). */
const MAX_BUFFERED = 4 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;

interface Client {
  res: ServerResponse;
}

/** Who holds a stream, for the per-holder caps: the browser session and the client's address. */
export interface StreamHolder {
  session: string;
  address: string;
}

export interface SseLimits {
  /** Streams open at once, in all (default 200). */
  maxClients?: number;
  /** Per browser session (default 8: a browser opens at most 6 connections to a host anyway). */
  maxPerSession?: number;
  /** Per client address (default 40). */
  maxPerAddress?: number;
}

/**
 * Server-sent event streams, grouped by key (a browser session, or the dashboard). Streams are
 * written uncompressed and flushed per event: a compressing layer would hold events back.
 * A comment line every 15 s keeps idle connections (and proxies) from timing out.
 */
export class SseHub<K> {
  readonly #clients = new Map<K, Set<Client>>();
  readonly #maxClients: number;
  readonly #maxPerSession: number;
  readonly #maxPerAddress: number;
  readonly #bySession = new Map<string, number>();
  readonly #byAddress = new Map<string, number>();
  #heartbeat: NodeJS.Timeout | undefined;
  #total = 0;

  constructor(opts: SseLimits = {}) {
    this.#maxClients = opts.maxClients ?? 200;
    this.#maxPerSession = opts.maxPerSession ?? 8;
    this.#maxPerAddress = opts.maxPerAddress ?? 40;
  }

  /**
   * Answers the request with an event stream and registers it under `key`. Returns false (and
   * answers with a JSON error) when too many streams are open: 429 when this session or this address
   * holds its share already, so no one client can take every slot; 503 when all are taken.
   */
  open(key: K, req: IncomingMessage, res: ServerResponse, holder: StreamHolder, headers: Record<string, string> = {}): boolean {
    const refuse = (status: number, message: string, facts: Record<string, number | string>): false => {
      sendJson(res, status, { error: { code: 'TOO_MANY_STREAMS', message, facts } }, { 'Retry-After': '10' });
      return false;
    };
    const session = this.#bySession.get(holder.session) ?? 0;
    if (session >= this.#maxPerSession) {
      return refuse(429, `This browser already has ${session} console tabs open (the limit is ${this.#maxPerSession}); close one and reload.`, { given: session + 1, allowed: this.#maxPerSession, per: 'session' });
    }
    const address = this.#byAddress.get(holder.address) ?? 0;
    if (address >= this.#maxPerAddress) {
      return refuse(429, `This address already has ${address} console tabs open (the limit is ${this.#maxPerAddress}); close one and reload.`, { given: address + 1, allowed: this.#maxPerAddress, per: 'address' });
    }
    if (this.#total >= this.#maxClients) {
      return refuse(503, 'Too many open console tabs; close one and reload.', { given: this.#total + 1, allowed: this.#maxClients, per: 'console' });
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
    bump(this.#bySession, holder.session, 1);
    bump(this.#byAddress, holder.address, 1);
    this.#heartbeat ??= setInterval(() => this.#ping(), HEARTBEAT_MS).unref();
    const remove = (): void => {
      const s = this.#clients.get(key);
      if (!s?.delete(client)) return;
      this.#total--;
      bump(this.#bySession, holder.session, -1);
      bump(this.#byAddress, holder.address, -1);
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
    this.#bySession.clear();
    this.#byAddress.clear();
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

function bump(counts: Map<string, number>, key: string, by: number): void {
  const n = (counts.get(key) ?? 0) + by;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}
