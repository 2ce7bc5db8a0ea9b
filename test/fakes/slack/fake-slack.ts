/**
 * A fake Slack on 127.0.0.1 for the real @slack/bolt app: the Web API methods hearth calls, a
 * Socket Mode server (hello first, envelopes acknowledged by envelope_id, redelivered like Slack when
 * not acknowledged within the deadline), signed HTTP delivery for HTTP mode, response_url endpoints,
 * file uploads (getUploadURLExternal → upload → completeUploadExternal) and a private file host.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { slackTokens } from '../../helpers/tokens.js';
import { Deliveries, type Delivery } from './deliveries.js';
import { SlackHistory } from './history.js';
import { checkSlackMessage } from './limits.js';
import { SlackState, type ApiCall } from './state.js';

export interface FakeSlackOptions {
  botToken?: string;
  appToken?: string;
  signingSecret?: string;
  team?: string;
  botUserId?: string;
  /** chat.startStream and friends exist (default true); false answers them with `unknown_method`. */
  streaming?: boolean;
  /** How long Slack waits for an acknowledgement before it redelivers (default 3000 ms, as Slack). */
  ackDeadlineMs?: number;
}

type Json = Record<string, unknown>;

/** One call of a method whose reply is held back (see {@link FakeSlack.holdReply}). */
interface ReplyHold {
  method: string;
  held: boolean;
  waiting: Array<() => void>;
  released: boolean;
}

export class FakeSlack {
  readonly botToken: string;
  readonly appToken: string;
  readonly signingSecret: string;
  readonly team: string;
  readonly botUserId: string;
  readonly state: SlackState;
  readonly deliveries: Deliveries;
  /** Channels, people and seeded histories hearth can read (conversations.*, chat.getPermalink, users.info). */
  readonly history: SlackHistory;
  streaming: boolean;
  /** Requests the file host got: url path and the Authorization header it carried. */
  readonly fileRequests: Array<{ path: string; authorization: string | undefined }> = [];
  /** Bodies posted to response_url, by its id. */
  readonly responses: Array<{ id: string; body: Json }> = [];
  /** Messages refused as Slack refuses them (invalid_blocks, msg_too_long), with Slack's error lines. */
  readonly refused: Array<{ method: string; error: string; errors: string[] }> = [];
  /** Web API calls answered 429, by method name. */
  readonly rateLimited: string[] = [];
  readonly #rateLimits: Array<{ method: string; times: number; retryAfter: number }> = [];
  readonly #replyHolds: ReplyHold[] = [];
  readonly #server: Server;
  readonly #wss: WebSocketServer;
  readonly #sockets = new Set<WebSocket>();
  readonly #files = new Map<string, { bytes: Uint8Array; mimetype: string }>();
  readonly #uploads = new Map<string, Uint8Array>();
  #port = 0;

  constructor(opts: FakeSlackOptions = {}) {
    // Credentials in Slack's real shapes, so log scrubbing is tested against what it will meet.
    this.botToken = opts.botToken ?? slackTokens.bot();
    this.appToken = opts.appToken ?? slackTokens.app();
    this.signingSecret = opts.signingSecret ?? slackTokens.signingSecret();
    this.team = opts.team ?? 'T0001';
    this.botUserId = opts.botUserId ?? 'UBOT';
    this.streaming = opts.streaming ?? true;
    this.state = new SlackState(this.botUserId);
    this.history = new SlackHistory(this.state);
    this.deliveries = new Deliveries(opts.ackDeadlineMs ?? 3000, (text) => this.#broadcast(text));
    this.#server = createServer((req, res) => void this.#route(req, res));
    this.#wss = new WebSocketServer({ noServer: true });
    this.#server.on('upgrade', (req, socket, head) => {
      if (!req.url?.startsWith('/link')) return socket.destroy();
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onSocket(ws));
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get apiUrl(): string {
    return `${this.origin}/api/`;
  }

  /** Socket Mode connections open now. */
  get connections(): number {
    return this.#sockets.size;
  }

  async close(): Promise<void> {
    this.deliveries.dispose();
    for (const h of this.#replyHolds) for (const w of h.waiting.splice(0)) w();
    for (const ws of this.#sockets) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** A private file as Slack would list it in a message's `files`. */
  addFile(bytes: Uint8Array, name = 'photo.png', mimetype = 'image/png'): Json {
    const id = `F${randomUUID().slice(0, 8).toUpperCase()}`;
    this.#files.set(id, { bytes, mimetype });
    const url = `${this.origin}/files-pri/${this.team}-${id}/${name}`;
    return { id, name, title: name, mimetype, filetype: 'png', size: bytes.byteLength, url_private: url, url_private_download: `${url}?download=1` };
  }

  /** A response_url for one slash command or button press. */
  responseUrl(): string {
    return `${this.origin}/response/${randomUUID()}`;
  }

  // ---- delivery: Socket Mode --------------------------------------------------------------------

  /** Sends an envelope over Socket Mode; resolves with how it was acknowledged. */
  sendEnvelope(type: 'events_api' | 'slash_commands' | 'interactive', payload: Json): Promise<Delivery> {
    if (this.#sockets.size === 0) throw new Error('no Socket Mode connection');
    return this.deliveries.send(type, payload);
  }

  #broadcast(text: string): void {
    // Slack sends each envelope on one of the app's connections.
    const ws = [...this.#sockets][0];
    ws?.send(text);
  }

  #onSocket(ws: WebSocket): void {
    this.#sockets.add(ws);
    ws.on('close', () => this.#sockets.delete(ws));
    ws.on('message', (data) => {
      let msg: Json;
      try {
        msg = JSON.parse(String(data)) as Json;
      } catch {
        return;
      }
      if (typeof msg.envelope_id === 'string') this.deliveries.ack(msg.envelope_id, msg.payload);
    });
    ws.send(JSON.stringify({ type: 'hello', num_connections: this.#sockets.size, debug_info: { host: 'fake-slack' }, connection_info: { app_id: 'A0001' } }));
  }

  // ---- delivery: HTTP mode ----------------------------------------------------------------------

  /**
   * Posts a signed request to an HTTP-mode app the way Slack does. `timestamp` (seconds) and
   * `signature` can be given to make a stale or forged request.
   */
  async postSigned(url: string, kind: 'events' | 'form', body: Json, opts: { timestamp?: number; signature?: string; retryNum?: number } = {}): Promise<{ status: number; text: string }> {
    const raw = kind === 'events' ? JSON.stringify(body) : new URLSearchParams(Object.entries(body).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])).toString();
    const ts = opts.timestamp ?? Math.floor(Date.now() / 1000);
    const signature = opts.signature ?? `v0=${createHmac('sha256', this.signingSecret).update(`v0:${ts}:${raw}`).digest('hex')}`;
    const headers: Record<string, string> = {
      'content-type': kind === 'events' ? 'application/json' : 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': String(ts),
      'x-slack-signature': signature,
    };
    if (opts.retryNum !== undefined) {
      headers['x-slack-retry-num'] = String(opts.retryNum);
      headers['x-slack-retry-reason'] = 'http_timeout';
    }
    const res = await fetch(url, { method: 'POST', headers, body: raw });
    return { status: res.status, text: await res.text() };
  }

  // ---- HTTP routes ------------------------------------------------------------------------------

  /**
   * Makes the next `times` calls of a Web API method answer as Slack's rate limiter does: HTTP 429
   * with `Retry-After` (whole seconds) and `{"ok": false, "error": "ratelimited"}`. Calls answered so
   * are in `rateLimited`.
   */
  rateLimit(method: string, opts: { times?: number; retryAfterSeconds?: number } = {}): void {
    this.#rateLimits.push({ method, times: opts.times ?? 1, retryAfter: Math.max(0, Math.round(opts.retryAfterSeconds ?? 1)) });
  }

  /**
   * The next call of `method` is carried out (the message exists in Slack), but its reply is held
   * until `release()`: the window in which the app that asked does not know yet what Slack made, as
   * when its process dies before the reply arrives. `held()` turns true once such a call came in.
   */
  holdReply(method: string): { held(): boolean; release(): void } {
    const h: ReplyHold = { method, held: false, waiting: [], released: false };
    this.#replyHolds.push(h);
    return {
      held: () => h.held,
      release: () => {
        h.released = true;
        for (const w of h.waiting.splice(0)) w();
      },
    };
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.origin);
    const body = await readBody(req);
    try {
      if (url.pathname.startsWith('/api/')) {
        const method = url.pathname.slice(5);
        const rule = this.#rateLimits.find((r) => r.times > 0 && r.method === method);
        if (rule) {
          rule.times--;
          this.rateLimited.push(method);
          res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(rule.retryAfter) }).end(JSON.stringify({ ok: false, error: 'ratelimited' }));
          return;
        }
      }
      if (url.pathname.startsWith('/api/')) return json(res, await this.#api(url.pathname.slice(5), req, body));
      if (url.pathname.startsWith('/upload/')) {
        this.#uploads.set(url.pathname.slice(8), await uploadedBytes(req, body));
        res.writeHead(200, { 'content-type': 'text/plain' }).end('OK - 1');
        return;
      }
      if (url.pathname.startsWith('/response/')) {
        this.responses.push({ id: url.pathname.slice(10), body: JSON.parse(body.toString('utf8')) as Json });
        return json(res, { ok: true });
      }
      if (url.pathname.startsWith('/files-pri/')) {
        const auth = req.headers.authorization;
        this.fileRequests.push({ path: url.pathname, authorization: auth });
        const id = url.pathname.split('/')[2]?.split('-')[1] ?? '';
        const file = this.#files.get(id);
        if (!file) return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': file.mimetype, 'content-length': String(file.bytes.byteLength) }).end(Buffer.from(file.bytes));
        return;
      }
      res.writeHead(404).end();
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(String(e));
    }
  }

  async #api(method: string, req: IncomingMessage, raw: Buffer): Promise<Json> {
    const args = await parseArgs(req, raw);
    const header = req.headers.authorization?.replace(/^Bearer\s+/i, '');
    const token = header ?? (typeof args.token === 'string' ? args.token : undefined);
    const call: ApiCall = { method, args, at: Date.now() };
    this.state.calls.push(call);
    if (method === 'apps.connections.open') {
      if (token !== this.appToken) return { ok: false, error: 'invalid_auth' };
      return { ok: true, url: `ws://127.0.0.1:${this.#port}/link/?ticket=${randomUUID()}&app_id=A0001` };
    }
    if (token !== this.botToken) return { ok: false, error: 'invalid_auth' };
    if (method.startsWith('chat.') && method.endsWith('Stream') && !this.streaming) return { ok: false, error: 'unknown_method' };
    if (method === 'chat.postMessage' || method === 'chat.update' || method === 'chat.postEphemeral') {
      const refused = checkSlackMessage(args);
      if (refused) {
        this.refused.push({ method, error: String(refused.error), errors: (refused.errors as string[] | undefined) ?? [] });
        return refused;
      }
    }
    if (method === 'files.getUploadURLExternal') {
      const id = `F${randomUUID().slice(0, 8).toUpperCase()}`;
      return { ok: true, file_id: id, upload_url: `${this.origin}/upload/${id}` };
    }
    if (method === 'files.completeUploadExternal') {
      const files = (typeof args.files === 'string' ? JSON.parse(args.files) : args.files) as Array<{ id: string; title?: string }>;
      for (const f of files) {
        const bytes = this.#uploads.get(f.id);
        if (!bytes) return { ok: false, error: 'file_not_found' };
        this.state.shareFile({ id: f.id, bytes, title: f.title ?? '', channel: String(args.channel_id), thread: optional(args.thread_ts), comment: optional(args.initial_comment) });
      }
      return { ok: true, files: files.map((f) => ({ id: f.id, title: f.title })) };
    }
    await this.history.gate(method);
    const result = this.history.handle(method, args) ?? this.state.handle(method, args);
    const hold = this.#replyHolds.find((h) => h.method === method && !h.held && !h.released);
    if (hold) {
      hold.held = true;
      await new Promise<void>((resolve) => hold.waiting.push(resolve));
    }
    return result;
  }
}

function optional(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function json(res: ServerResponse, body: Json): void {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

const JSON_FIELDS = new Set(['blocks', 'attachments', 'chunks', 'files', 'metadata']);

/** The Web API client sends form fields, with objects as JSON strings; some callers send JSON. */
async function parseArgs(req: IncomingMessage, raw: Buffer): Promise<Json> {
  const type = req.headers['content-type'] ?? '';
  if (type.includes('application/json')) return raw.length > 0 ? (JSON.parse(raw.toString('utf8')) as Json) : {};
  const out: Json = {};
  if (type.includes('multipart/form-data')) {
    for (const [k, v] of await formEntries(raw, type)) out[k] = typeof v === 'string' ? v : new Uint8Array(await v.arrayBuffer());
  } else {
    for (const [k, v] of new URLSearchParams(raw.toString('utf8'))) out[k] = v;
  }
  for (const k of Object.keys(out)) {
    const v = out[k];
    if (JSON_FIELDS.has(k) && typeof v === 'string') out[k] = JSON.parse(v);
  }
  return out;
}

async function uploadedBytes(req: IncomingMessage, raw: Buffer): Promise<Uint8Array> {
  const type = req.headers['content-type'] ?? '';
  if (!type.includes('multipart/form-data')) return new Uint8Array(raw);
  for (const [, v] of await formEntries(raw, type)) if (typeof v !== 'string') return new Uint8Array(await v.arrayBuffer());
  throw new Error('upload without a file part');
}

async function formEntries(raw: Buffer, type: string): Promise<Array<[string, FormDataEntryValue]>> {
  const form = await new Response(new Uint8Array(raw), { headers: { 'content-type': type } }).formData();
  const out: Array<[string, FormDataEntryValue]> = [];
  form.forEach((v, k) => out.push([k, v]));
  return out;
}
