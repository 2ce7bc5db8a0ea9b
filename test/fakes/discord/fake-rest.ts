import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ChannelTypes,
  EPHEMERAL,
  Intents,
  LOADING,
  Snowflakes,
  type FakeAttachment,
  type FakeChannel,
  type FakeInteraction,
  type FakeMessage,
  type FakeUser,
  type MessageVia,
} from './model.js';
import { checkCommands, checkMessage, type ErrorTree, type FormErrors } from './limits.js';

type Body = Record<string, unknown>;
type Files = Map<string, { name: string; type: string; bytes: Uint8Array }>;

/** A route served outside this file: it throws {@link ApiError} for Discord's errors. */
export interface ExtraRoute {
  matches(method: string, route: string): boolean;
  handle(method: string, route: string, query: URLSearchParams): unknown;
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: number, message: string, readonly errors?: ErrorTree) {
    super(message);
  }
}

/** Discord's 400 for a body that breaks its rules: `{ code: 50035, message: 'Invalid Form Body', errors }`. */
function invalidForm(e: FormErrors): ApiError | undefined {
  return e.count > 0 ? new ApiError(400, 50035, 'Invalid Form Body', e.tree) : undefined;
}

/** A 429 the fake gives when a test asks for one. */
export interface RateLimitRule {
  method: string | undefined;
  route: RegExp;
  /** How many more requests it answers 429. */
  times: number;
  retryAfterSeconds: number;
  /** `global: true` (X-RateLimit-Global) or a per-route bucket. */
  global: boolean;
}

const unknownMessage = () => new ApiError(404, 10008, 'Unknown Message');

export interface RestOptions {
  /** Interactions not acknowledged within this many ms are gone (Discord: 3 s). */
  ackDeadlineMs: number;
  /** Interaction tokens work this long after the interaction (Discord: 15 min). */
  tokenLifetimeMs: number;
}

/** A request whose reply is held back after the fake has done what it asks (see FakeDiscord.holdReply). */
export interface ReplyHold {
  method: string;
  route: RegExp;
  held: boolean;
  released: boolean;
  waiting: Array<() => void>;
}

/** The REST side of the fake Discord and the state it keeps. */
export class FakeRestState {
  readonly ids = new Snowflakes();
  readonly users = new Map<string, FakeUser>();
  readonly channels = new Map<string, FakeChannel>();
  readonly messages = new Map<string, FakeMessage>();
  readonly interactions = new Map<string, FakeInteraction>();
  readonly byToken = new Map<string, FakeInteraction>();
  readonly attachments = new Map<string, FakeAttachment>();
  readonly commands = new Map<string, Body[]>();
  /** Requests the fake has no route for (hearth should make none). */
  readonly unexpected: string[] = [];
  /** Requests answered with an error status, as `METHOD path → status code`. */
  readonly errors: string[] = [];
  /** Bodies refused as Discord refuses them (400 Invalid Form Body): the route and each `path: CODE message`. */
  readonly refused: Array<{ request: string; errors: string[] }> = [];
  /** 429s to give (see FakeDiscord.rateLimit). */
  readonly rateLimits: RateLimitRule[] = [];
  /** Requests answered 429, as `METHOD path`. */
  readonly rateLimited: string[] = [];
  /** When each of those 429s was given (epoch ms). */
  readonly rateLimitedAt: number[] = [];
  baseUrl = '';
  /** More routes (the readable history of a guild, test/fakes/discord/history.ts), tried first. */
  readonly extraRoutes: ExtraRoute[] = [];
  /** Replies to hold back once their request was carried out. */
  readonly replyHolds: ReplyHold[] = [];
  /** Called for MESSAGE_CREATE dispatches (set by the server). */
  onMessageCreated: (m: FakeMessage, intent: number) => void = () => {};

  constructor(
    readonly bot: FakeUser,
    readonly applicationId: string,
    readonly token: string,
    readonly opts: RestOptions,
  ) {
    this.users.set(bot.id, bot);
  }

  messageJson(m: FakeMessage): Body {
    const it = m.interactionId ? this.interactions.get(m.interactionId) : undefined;
    return {
      id: m.id,
      channel_id: m.channelId,
      author: this.users.get(m.authorId),
      content: m.content,
      timestamp: new Date(m.createdAt).toISOString(),
      edited_timestamp: m.edits.length > 0 ? new Date(m.edits[m.edits.length - 1]!).toISOString() : null,
      tts: false,
      mention_everyone: false,
      mentions: m.mentionsBot ? [this.bot] : [],
      mention_roles: [],
      attachments: m.attachments.map((a) => ({ id: a.id, filename: a.filename, size: a.size, url: a.url, proxy_url: a.url, content_type: a.content_type, ...(a.description ? { description: a.description } : {}) })),
      embeds: [],
      pinned: false,
      type: m.replyTo ? 19 : m.via === 'interaction' ? 20 : 0,
      flags: m.flags,
      components: m.components,
      // An interaction's reply and follow-ups are made through its webhook; a follow-up names the reply it follows.
      ...(it ? { webhook_id: this.applicationId, application_id: this.applicationId } : {}),
      ...(it
        ? {
            interaction_metadata: {
              id: it.id,
              type: it.type,
              user: this.users.get(it.userId),
              authorizing_integration_owners: {},
              ...(m.via === 'followup' && it.originalId ? { original_response_message_id: it.originalId } : {}),
            },
          }
        : {}),
      ...(m.replyTo ? { message_reference: { message_id: m.replyTo, channel_id: m.channelId } } : {}),
    };
  }

  addAttachment(filename: string, bytes: Uint8Array, contentType: string, channelId = 'uploads', description?: string): FakeAttachment {
    const id = this.ids.next();
    const a: FakeAttachment = {
      id,
      filename,
      size: bytes.byteLength,
      content_type: contentType,
      url: `${this.baseUrl}/attachments/${channelId}/${id}/${encodeURIComponent(filename)}`,
      bytes,
      ...(description ? { description } : {}),
    };
    this.attachments.set(id, a);
    return a;
  }

  newMessage(channelId: string, authorId: string, via: MessageVia, init: Partial<FakeMessage> = {}): FakeMessage {
    const m: FakeMessage = {
      id: this.ids.next(),
      channelId,
      authorId,
      content: '',
      flags: 0,
      components: [],
      attachments: [],
      via,
      createdAt: Date.now(),
      edits: [],
      history: [],
      deleted: false,
      allowedUsers: [],
      ...init,
    };
    this.messages.set(m.id, m);
    return m;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = decodeURIComponent(url.pathname);
    const method = req.method ?? 'GET';
    try {
      if (path.startsWith('/attachments/')) return this.#serveAttachment(path, res);
      if (!path.startsWith('/api/v10/')) throw new ApiError(404, 0, '404: Not Found');
      const route = path.slice('/api/v10'.length);
      const { body, files } = await readBody(req);
      const bot = !route.startsWith('/interactions/') && !route.startsWith('/webhooks/');
      if (bot && req.headers.authorization !== `Bot ${this.token}`) throw new ApiError(401, 0, '401: Unauthorized');
      if (this.#rateLimited(method, route, res)) return;
      const extra = this.extraRoutes.find((r) => r.matches(method, route));
      const out = extra ? await extra.handle(method, route, url.searchParams) : this.#route(method, route, body, files);
      const hold = this.replyHolds.find((h) => !h.held && !h.released && h.method === method && h.route.test(route));
      if (hold) {
        hold.held = true;
        await new Promise<void>((resolve) => hold.waiting.push(resolve));
      }
      if (out === undefined) {
        res.writeHead(204).end();
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
      }
    } catch (e) {
      // A request cut off mid-body (its sender was killed -9) reaches nobody: Discord never sees it
      // whole, so it is not an error of the app's.
      if (!(e instanceof ApiError) && !req.complete) {
        res.destroy();
        return;
      }
      const err = e instanceof ApiError ? e : new ApiError(500, 0, e instanceof Error ? e.message : String(e));
      const shown = `${method} ${path.replace(/\/(webhooks\/\d+|interactions\/\d+)\/[^/]+/, '/$1/<token>')}`;
      this.errors.push(`${shown} → ${err.status} ${err.code}`);
      if (err.errors) this.refused.push({ request: shown, errors: flatten(err.errors) });
      res.writeHead(err.status, { 'content-type': 'application/json' }).end(JSON.stringify({ message: err.message, code: err.code, ...(err.errors ? { errors: err.errors } : {}) }));
    }
  }

  #route(method: string, route: string, body: Body, files: Files): unknown {
    let m: RegExpExecArray | null;
    const is = (verb: string, re: RegExp) => method === verb && (m = re.exec(route)) !== null;
    const g = (i: number) => m![i]!;
    if (is('GET', /^\/gateway\/bot$/)) {
      return { url: this.baseUrl.replace(/^http/, 'ws'), shards: 1, session_start_limit: { total: 1000, remaining: 999, reset_after: 0, max_concurrency: 1 } };
    }
    if (is('GET', /^\/users\/@me$/)) return this.bot;
    if (is('PUT', /^\/applications\/(\d+)\/commands$/)) return this.#putCommands(g(1), 'global', body);
    if (is('PUT', /^\/applications\/(\d+)\/guilds\/(\d+)\/commands$/)) return this.#putCommands(g(1), g(2), body);
    if (is('POST', /^\/interactions\/(\d+)\/([^/]+)\/callback$/)) return this.#callback(g(1), g(2), body);
    if ((m = /^\/webhooks\/(\d+)\/([^/]+)(?:\/messages\/([^/]+))?$/.exec(route)) !== null) {
      return this.#webhook(method, g(1), g(2), m[3], body, files);
    }
    if (is('POST', /^\/channels\/(\d+)\/messages$/)) return this.#postChannel(g(1), body, files);
    if (is('PATCH', /^\/channels\/(\d+)\/messages\/(\d+)$/)) return this.#editChannel(g(1), g(2), body, files);
    if (is('DELETE', /^\/channels\/(\d+)\/messages\/(\d+)$/)) return this.#deleteChannel(g(1), g(2));
    if (is('POST', /^\/channels\/(\d+)\/messages\/(\d+)\/threads$/)) return this.#thread(g(1), g(2), body);
    if (is('GET', /^\/channels\/(\d+)$/)) return this.#channel(g(1));
    if (is('POST', /^\/users\/@me\/channels$/)) return this.dmWith(String(body.recipient_id));
    this.unexpected.push(`${method} ${route.replace(/\/(webhooks\/\d+|interactions\/\d+)\/[^/]+/, '/$1/<token>')}`);
    throw new ApiError(404, 0, '404: Not Found');
  }

  dmWith(userId: string): FakeChannel {
    for (const c of this.channels.values()) if (c.type === ChannelTypes.DM && c.recipients?.[0]?.id === userId) return c;
    const user = this.users.get(userId);
    if (!user) throw new ApiError(400, 50033, 'Invalid Recipient(s)');
    const c: FakeChannel = { id: this.ids.next(), type: ChannelTypes.DM, recipients: [user] };
    this.channels.set(c.id, c);
    return c;
  }

  /** Answers 429 as Discord does when a rule matches: `retry_after` in the body, `Retry-After` and `X-RateLimit-*` headers. */
  #rateLimited(method: string, route: string, res: ServerResponse): boolean {
    const rule = this.rateLimits.find((r) => r.times > 0 && (r.method === undefined || r.method === method) && r.route.test(route));
    if (!rule) return false;
    rule.times--;
    const shown = `${method} ${route.replace(/\/(webhooks\/\d+|interactions\/\d+)\/[^/]+/, '/$1/<token>')}`;
    this.rateLimited.push(shown);
    this.rateLimitedAt.push(Date.now());
    const after = rule.retryAfterSeconds;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'retry-after': String(Math.max(1, Math.ceil(after))),
      'x-ratelimit-scope': rule.global ? 'global' : 'user',
    };
    if (rule.global) headers['x-ratelimit-global'] = 'true';
    else {
      Object.assign(headers, {
        'x-ratelimit-limit': '5',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String((Date.now() + after * 1000) / 1000),
        'x-ratelimit-reset-after': String(after),
        'x-ratelimit-bucket': `fake-${rule.route.source.length.toString(16)}`,
      });
    }
    res.writeHead(429, headers).end(JSON.stringify({ message: 'You are being rate limited.', retry_after: after, global: rule.global, code: 0 }));
    return true;
  }

  #putCommands(app: string, scope: string, body: unknown): unknown {
    if (app !== this.applicationId) throw new ApiError(403, 50001, 'Missing Access');
    const bad = invalidForm(checkCommands(body));
    if (bad) throw bad;
    if (!Array.isArray(body)) throw new ApiError(400, 50035, 'Invalid Form Body');
    const saved = (body as Body[]).map((c) => ({ ...c, id: this.ids.next(), application_id: app, version: this.ids.next() }));
    this.commands.set(scope, saved);
    return saved;
  }

  #callback(id: string, token: string, body: Body): undefined {
    const it = this.interactions.get(id);
    if (!it || it.token !== token) throw new ApiError(404, 10062, 'Unknown interaction');
    if (it.callbacks.length > 0) throw new ApiError(400, 40060, 'Interaction has already been acknowledged.');
    const now = Date.now();
    if (now - it.dispatchedAt > this.opts.ackDeadlineMs) throw new ApiError(404, 10062, 'Unknown interaction');
    const type = Number(body.type);
    const data = body.data as Body | undefined;
    // A response Discord refuses acknowledges nothing: the interaction may still be answered.
    if (type === 4 || type === 7) {
      const bad = invalidForm(checkMessage(data ?? {}, 0));
      if (bad) throw bad;
    }
    it.callbacks.push({ type, at: now, data });
    const ephemeral = (Number(data?.flags ?? 0) & EPHEMERAL) !== 0 ? EPHEMERAL : 0;
    switch (type) {
      case 4: {
        const msg = this.newMessage(it.channelId, this.bot.id, 'interaction', { interactionId: it.id, flags: ephemeral });
        this.#apply(msg, data ?? {}, new Map(), true);
        it.originalId = msg.id;
        return undefined;
      }
      case 5:
        it.originalId = this.newMessage(it.channelId, this.bot.id, 'interaction', { interactionId: it.id, flags: ephemeral | LOADING }).id;
        return undefined;
      case 6:
        if (it.messageId) it.originalId = it.messageId;
        return undefined;
      case 7: {
        const msg = it.messageId ? this.messages.get(it.messageId) : undefined;
        if (!msg) throw unknownMessage();
        this.#apply(msg, data ?? {}, new Map(), false);
        msg.edits.push(now);
        it.originalId = msg.id;
        return undefined;
      }
      case 8:
        it.choices = (data?.choices as FakeInteraction['choices']) ?? [];
        return undefined;
      default:
        throw new ApiError(400, 50035, `Invalid Form Body: unknown callback type ${type}`);
    }
  }

  #webhook(method: string, app: string, token: string, messageId: string | undefined, body: Body, files: Files): unknown {
    const it = this.byToken.get(token);
    if (!it || app !== this.applicationId) throw new ApiError(404, 10015, 'Unknown Webhook');
    if (it.expired || Date.now() - it.dispatchedAt > this.opts.tokenLifetimeMs) throw new ApiError(401, 50027, 'Invalid Webhook Token');
    if (messageId === undefined) {
      if (method !== 'POST') throw new ApiError(405, 0, '405: Method Not Allowed');
      const original = it.originalId ? this.messages.get(it.originalId) : undefined;
      if (original && !original.deleted && (original.flags & LOADING) !== 0) {
        // Discord completes a still-deferred reply with the first follow-up: it keeps the deferral's flags.
        this.#apply(original, body, files, false);
        original.flags &= ~LOADING;
        return this.messageJson(original);
      }
      const msg = this.newMessage(it.channelId, this.bot.id, 'followup', { interactionId: it.id, flags: Number(body.flags ?? 0) & EPHEMERAL });
      this.#apply(msg, body, files, true);
      it.followupIds.push(msg.id);
      return this.messageJson(msg);
    }
    const id = messageId === '@original' ? it.originalId : it.followupIds.includes(messageId) ? messageId : undefined;
    const msg = id ? this.messages.get(id) : undefined;
    if (!msg || msg.deleted) throw unknownMessage();
    if (method === 'GET') return this.messageJson(msg);
    if (method === 'DELETE') {
      msg.deleted = true;
      return undefined;
    }
    if (method !== 'PATCH') throw new ApiError(405, 0, '405: Method Not Allowed');
    this.#apply(msg, body, files, false);
    msg.flags &= ~LOADING;
    msg.edits.push(Date.now());
    return this.messageJson(msg);
  }

  #postChannel(channelId: string, body: Body, files: Files): unknown {
    const channel = this.channels.get(channelId);
    if (!channel) throw new ApiError(404, 10003, 'Unknown Channel');
    const ref = body.message_reference as Body | undefined;
    const msg = this.newMessage(channelId, this.bot.id, 'channel', ref?.message_id ? { replyTo: String(ref.message_id) } : {});
    this.#apply(msg, body, files, true);
    this.onMessageCreated(msg, channel.guild_id ? Intents.GuildMessages : Intents.DirectMessages);
    return this.messageJson(msg);
  }

  #editChannel(channelId: string, messageId: string, body: Body, files: Files): unknown {
    const msg = this.messages.get(messageId);
    if (!msg || msg.deleted || msg.channelId !== channelId) throw unknownMessage();
    if (msg.authorId !== this.bot.id) throw new ApiError(403, 50005, 'Cannot edit a message authored by another user');
    this.#apply(msg, body, files, false);
    msg.edits.push(Date.now());
    return this.messageJson(msg);
  }

  #deleteChannel(channelId: string, messageId: string): undefined {
    const msg = this.messages.get(messageId);
    if (!msg || msg.deleted || msg.channelId !== channelId) throw unknownMessage();
    msg.deleted = true;
    return undefined;
  }

  #thread(channelId: string, messageId: string, body: Body): unknown {
    const parent = this.channels.get(channelId);
    const msg = this.messages.get(messageId);
    if (!parent || !msg || msg.deleted || msg.channelId !== channelId) throw unknownMessage();
    if ((msg.flags & EPHEMERAL) !== 0) throw new ApiError(400, 50083, 'Cannot start a thread on an ephemeral message');
    if (this.channels.has(messageId)) throw new ApiError(400, 160004, 'A thread has already been created for this message');
    const name = String(body.name ?? '');
    if (name.length < 1 || name.length > 100) throw new ApiError(400, 50035, 'Invalid Form Body: name must be 1-100 characters');
    // Discord gives a thread started from a message that message's id.
    const thread: FakeChannel = { id: messageId, type: ChannelTypes.PublicThread, guild_id: parent.guild_id!, parent_id: channelId, owner_id: this.bot.id, name };
    this.channels.set(thread.id, thread);
    return { ...thread, thread_metadata: { archived: false, auto_archive_duration: 1440, locked: false, archive_timestamp: new Date().toISOString() } };
  }

  #channel(id: string): unknown {
    const c = this.channels.get(id);
    if (!c) throw new ApiError(404, 10003, 'Unknown Channel');
    return c;
  }

  /** Applies a create/edit body the way Discord does, and checks what Discord checks. */
  #apply(msg: FakeMessage, body: Body, files: Files, creating: boolean): void {
    // Refused as a whole before anything changes, as Discord does.
    const bad = invalidForm(checkMessage(body, files.size));
    if (bad) {
      if (creating) this.messages.delete(msg.id);
      throw bad;
    }
    if ('content' in body) msg.content = body.content === null || body.content === undefined ? '' : String(body.content);
    if ('components' in body) msg.components = (body.components as unknown[] | null) ?? [];
    if (Array.isArray(body.attachments)) {
      const next: FakeAttachment[] = [];
      for (const a of body.attachments as Body[]) {
        const file = files.get(`files[${String(a.id)}]`);
        if (file) next.push(this.addAttachment(String(a.filename ?? file.name), file.bytes, file.type || 'application/octet-stream', msg.channelId, a.description ? String(a.description) : undefined));
        else {
          const kept = msg.attachments.find((x) => x.id === String(a.id));
          if (kept) next.push(kept);
        }
      }
      msg.attachments = next;
    } else if (files.size > 0) {
      for (const f of files.values()) msg.attachments.push(this.addAttachment(f.name, f.bytes, f.type, msg.channelId));
    }
    if (creating && body.flags !== undefined) msg.flags |= Number(body.flags) & EPHEMERAL;
    const mentions = body.allowed_mentions as { users?: string[] } | undefined;
    msg.allowedUsers = mentions?.users ?? [];
    if (msg.content === '' && msg.attachments.length === 0 && msg.components.length === 0 && (msg.flags & LOADING) === 0) {
      throw new ApiError(400, 50006, 'Cannot send an empty message');
    }
    msg.history.push(msg.content);
  }

  #serveAttachment(path: string, res: ServerResponse): void {
    const id = path.split('/')[3] ?? '';
    const a = this.attachments.get(id);
    if (!a) throw new ApiError(404, 0, '404: Not Found');
    res.writeHead(200, { 'content-type': a.content_type, 'content-length': a.bytes.byteLength }).end(Buffer.from(a.bytes));
  }
}

async function readBody(req: IncomingMessage): Promise<{ body: Body; files: Files }> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks);
  const files: Files = new Map();
  if (raw.length === 0) return { body: {}, files };
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('multipart/form-data')) {
    const form = await new Response(raw, { headers: { 'content-type': type } }).formData();
    let body: Body = {};
    const parts: Array<[string, FormDataEntryValue]> = [];
    form.forEach((value, key) => parts.push([key, value]));
    for (const [key, value] of parts) {
      if (key === 'payload_json' && typeof value === 'string') body = JSON.parse(value) as Body;
      else if (typeof value !== 'string') files.set(key, { name: value.name, type: value.type, bytes: new Uint8Array(await value.arrayBuffer()) });
    }
    return { body, files };
  }
  return { body: JSON.parse(raw.toString('utf8')) as Body, files };
}

function flatten(tree: ErrorTree, at: string[] = []): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(tree)) {
    if (k === '_errors') for (const e of v as Array<{ code: string; message: string }>) out.push(`${at.join('.')}: ${e.code} ${e.message}`);
    else out.push(...flatten(v as ErrorTree, [...at, k]));
  }
  return out;
}
