/**
 * The fake Slack's readable workspace: channels (public or private, with members), people, and seeded
 * histories served as Slack serves them: conversations.history (newest first, cursor pages of at most
 * `pageSize`, `oldest`/`latest` exclusive), conversations.replies (parent first, then replies oldest
 * first), conversations.members and conversations.info, chat.getPermalink and users.info. Also the
 * message events (new, changed, deleted) Slack sends for what happens in those channels.
 */
import { nextTs, type FakeMessage, type SlackState } from './state.js';

type Json = Record<string, unknown>;

export interface FakeChannel {
  id: string;
  name: string;
  private: boolean;
  members: Set<string>;
}

/** A method that holds its answers (from call number `after` on) until released: a backfill cut off mid-way. */
interface Hold {
  method: string;
  after: number;
  calls: number;
  waiting: Array<() => void>;
  released: boolean;
}

export class SlackHistory {
  readonly channels = new Map<string, FakeChannel>();
  readonly users = new Map<string, string>();
  /** Most items one page holds, whatever `limit` asks (Slack may return fewer than asked). */
  pageSize = 100;
  /**
   * Bot scopes the app was installed without (e.g. `channels:history`, from a manifest older than the
   * one hearth asks for): reading a conversation that needs one answers `missing_scope`, naming it, as
   * Slack does. Posting is not affected (that is `chat:write`).
   */
  readonly withoutScopes = new Set<string>();
  readonly #state: SlackState;
  readonly #holds: Hold[] = [];

  constructor(state: SlackState) {
    this.#state = state;
  }

  addChannel(id: string, opts: { name?: string; private?: boolean; members?: string[] } = {}): FakeChannel {
    const c: FakeChannel = { id, name: opts.name ?? id.toLowerCase(), private: opts.private ?? false, members: new Set(opts.members ?? []) };
    this.channels.set(id, c);
    return c;
  }

  addUser(id: string, name: string): void {
    this.users.set(id, name);
  }

  /** A message someone wrote in a channel (or a thread reply when `thread` is given). */
  seed(channel: string, user: string, text: string, opts: { thread?: string } = {}): FakeMessage {
    const m: FakeMessage = { ts: nextTs(), channel, ...(opts.thread ? { thread: opts.thread } : {}), user, text, blocks: [], edits: 0, history: [text], deleted: false };
    this.#state.messages.push(m);
    return m;
  }

  edit(channel: string, ts: string, text: string): FakeMessage {
    const m = this.#state.find(channel, ts);
    if (!m) throw new Error(`no message ${channel}/${ts}`);
    m.text = text;
    m.edits++;
    m.history.push(text);
    return m;
  }

  remove(channel: string, ts: string): FakeMessage {
    const m = this.#state.find(channel, ts);
    if (!m) throw new Error(`no message ${channel}/${ts}`);
    m.deleted = true;
    return m;
  }

  /** From its `after`-th call on (0: at once), `method` answers nothing until the returned function is called. */
  hold(method: string, after: number): () => void {
    const h: Hold = { method, after, calls: 0, waiting: [], released: false };
    this.#holds.push(h);
    return () => {
      h.released = true;
      for (const w of h.waiting.splice(0)) w();
    };
  }

  /** Waits out a hold on the method, if any. */
  async gate(method: string): Promise<void> {
    for (const h of this.#holds) {
      if (h.method !== method || h.released) continue;
      h.calls++;
      if (h.calls > h.after) await new Promise<void>((resolve) => h.waiting.push(resolve));
    }
  }

  /** The answer to a Web API method this class serves, or undefined for another method. */
  handle(method: string, a: Json): Json | undefined {
    const channel = typeof a.channel === 'string' ? a.channel : '';
    switch (method) {
      case 'conversations.history': {
        const c = this.#readable(channel);
        if ('error' in c) return c.error;
        const oldest = num(a.oldest);
        const latest = num(a.latest);
        const all = this.#state.messages
          .filter((m) => m.channel === channel && !m.deleted && (!m.thread || m.thread === m.ts))
          .filter((m) => (oldest === undefined || Number(m.ts) > oldest) && (latest === undefined || Number(m.ts) < latest))
          .sort((x, y) => Number(y.ts) - Number(x.ts));
        const after = typeof a.cursor === 'string' && a.cursor !== '' ? Buffer.from(a.cursor, 'base64').toString('utf8') : undefined;
        const rest = after === undefined ? all : all.filter((m) => Number(m.ts) < Number(after));
        const page = rest.slice(0, this.#limit(a.limit));
        const more = rest.length > page.length;
        return {
          ok: true,
          messages: page.map((m) => this.#wire(m)),
          has_more: more,
          response_metadata: { next_cursor: more ? Buffer.from(page[page.length - 1]!.ts).toString('base64') : '' },
        };
      }
      case 'conversations.replies': {
        const c = this.#readable(channel);
        if ('error' in c) return c.error;
        const ts = String(a.ts ?? '');
        const parent = this.#state.find(channel, ts);
        if (!parent || parent.deleted) return { ok: false, error: 'thread_not_found' };
        // As Slack: `oldest` and `latest` (exclusive) bound the replies; the parent always comes first.
        const oldest = num(a.oldest);
        const latest = num(a.latest);
        const replies = this.#state
          .thread(channel, ts)
          .filter((m) => m.ts !== ts && (oldest === undefined || Number(m.ts) > oldest) && (latest === undefined || Number(m.ts) < latest));
        const all = [parent, ...replies];
        return this.#paged(all.map((m) => this.#wire(m)), a, 'messages');
      }
      case 'conversations.members': {
        const c = this.channels.get(channel);
        if (!c) return { ok: false, error: 'channel_not_found' };
        return this.#paged([...c.members], a, 'members');
      }
      case 'conversations.info': {
        const c = this.channels.get(channel);
        if (!c) return { ok: false, error: 'channel_not_found' };
        return { ok: true, channel: { id: c.id, name: c.name, is_channel: !c.private, is_group: c.private, is_private: c.private } };
      }
      case 'chat.getPermalink': {
        const ts = String(a.message_ts ?? '');
        const m = this.#state.find(channel, ts);
        if (!this.channels.has(channel)) return { ok: false, error: 'channel_not_found' };
        if (!m || m.deleted) return { ok: false, error: 'message_not_found' };
        return { ok: true, channel, permalink: permalinkOf(m) };
      }
      case 'users.info': {
        const id = String(a.user ?? '');
        const name = this.users.get(id);
        if (!name) return { ok: false, error: 'user_not_found' };
        return { ok: true, user: { id, name: name.toLowerCase(), real_name: name, profile: { real_name: name, display_name: name } } };
      }
      default:
        return undefined;
    }
  }

  #readable(channel: string): FakeChannel | { error: Json } {
    const c = this.channels.get(channel);
    // Slack checks the token's scopes before it looks at the conversation.
    const needed = channel.startsWith('D') ? 'im:history' : c?.private ? 'groups:history' : 'channels:history';
    if (this.withoutScopes.has(needed)) return { error: { ok: false, error: 'missing_scope', needed } };
    if (!c) return { error: { ok: false, error: 'channel_not_found' } };
    if (this.#state.notInChannel.has(channel)) return { error: { ok: false, error: 'not_in_channel' } };
    return c;
  }

  #limit(v: unknown): number {
    const asked = num(v) ?? 100;
    return Math.max(1, Math.min(asked, this.pageSize));
  }

  #paged<T>(all: T[], a: Json, key: string): Json {
    const from = typeof a.cursor === 'string' && a.cursor !== '' ? Number(Buffer.from(a.cursor, 'base64').toString('utf8')) : 0;
    const to = from + this.#limit(a.limit);
    const more = to < all.length;
    return { ok: true, [key]: all.slice(from, to), has_more: more, response_metadata: { next_cursor: more ? Buffer.from(String(to)).toString('base64') : '' } };
  }

  #wire(m: FakeMessage): Json {
    const replies = m.thread === undefined || m.thread === m.ts ? this.#state.thread(m.channel, m.ts).filter((r) => r.ts !== m.ts) : [];
    const out: Json = { type: 'message', user: m.user, text: m.text, ts: m.ts };
    if (m.thread) out.thread_ts = m.thread;
    if (replies.length > 0) {
      out.thread_ts = m.ts;
      out.reply_count = replies.length;
      out.latest_reply = replies[replies.length - 1]!.ts;
    }
    if (m.edits > 0) out.edited = { user: m.user, ts: nextTs() };
    return out;
  }
}

function num(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

export function permalinkOf(m: Pick<FakeMessage, 'channel' | 'ts' | 'thread'>): string {
  const base = `https://fake.slack.com/archives/${m.channel}/p${m.ts.replace('.', '')}`;
  return m.thread && m.thread !== m.ts ? `${base}?thread_ts=${m.thread}&cid=${m.channel}` : base;
}

/** The `message` event Slack sends for a new message in a channel the app is in. */
export function messageEvent(m: FakeMessage, channelType = 'channel'): Json {
  return { type: 'message', channel: m.channel, user: m.user, text: m.text, ts: m.ts, event_ts: m.ts, channel_type: channelType, ...(m.thread ? { thread_ts: m.thread } : {}) };
}

/** The `message_changed` event for an edit (the message as it is now, and as it was). */
export function changedEvent(m: FakeMessage, previousText: string, channelType = 'channel'): Json {
  const now = nextTs();
  const message: Json = { type: 'message', user: m.user, text: m.text, ts: m.ts, edited: { user: m.user, ts: now }, ...(m.thread ? { thread_ts: m.thread } : {}) };
  return {
    type: 'message', subtype: 'message_changed', hidden: true, channel: m.channel, channel_type: channelType, ts: now, event_ts: now,
    message, previous_message: { type: 'message', user: m.user, text: previousText, ts: m.ts },
  };
}

/** The `message_deleted` event. */
export function deletedEvent(m: FakeMessage, channelType = 'channel'): Json {
  const now = nextTs();
  return {
    type: 'message', subtype: 'message_deleted', hidden: true, channel: m.channel, channel_type: channelType, ts: now, event_ts: now,
    deleted_ts: m.ts, previous_message: { type: 'message', user: m.user, text: m.text, ts: m.ts },
  };
}
