/** What the fake Slack holds: messages (posted, edited, streamed, deleted), ephemerals, files. */

type Json = Record<string, unknown>;

export interface ApiCall {
  method: string;
  args: Json;
  at: number;
}

export interface FakeMessage {
  ts: string;
  channel: string;
  thread?: string;
  user: string;
  text: string;
  blocks: Json[];
  /** chat.update calls on it. */
  edits: number;
  /** What it showed after each post and edit (see {@link shownText}). */
  history: string[];
  deleted: boolean;
  /** Made by chat.startStream; `stopped` after chat.stopStream. */
  stream?: { stopped: boolean; appends: number; recipient?: { team?: string; user?: string } };
  /** A shared file's message. */
  file?: FakeFile;
}

export interface FakeFile {
  id: string;
  bytes: Uint8Array;
  title: string;
  channel: string;
  thread: string | undefined;
  comment: string | undefined;
}

export interface Ephemeral {
  channel: string;
  user: string;
  text: string;
  thread?: string;
}

let clock = 1_700_000_000_000;

/** Unique, increasing message timestamps like Slack's "1700000000.000100". */
export function nextTs(): string {
  clock += 1;
  const s = Math.floor(clock / 1000);
  const us = (clock % 1000) * 1000 + Math.floor(Math.random() * 1000);
  return `${s}.${String(us).padStart(6, '0')}`;
}

export class SlackState {
  readonly calls: ApiCall[] = [];
  readonly messages: FakeMessage[] = [];
  readonly ephemerals: Ephemeral[] = [];
  readonly files: FakeFile[] = [];
  /** Channels the bot is not a member of (chat.postMessage fails with not_in_channel). */
  readonly notInChannel = new Set<string>();
  readonly #botUserId: string;

  constructor(botUserId: string) {
    this.#botUserId = botUserId;
  }

  /** Messages of a thread (replies only), oldest first, without deleted ones. */
  thread(channel: string, ts: string): FakeMessage[] {
    return this.messages.filter((m) => m.channel === channel && m.thread === ts && !m.deleted);
  }

  /** Top-level messages of a channel, without deleted ones. */
  topLevel(channel: string): FakeMessage[] {
    return this.messages.filter((m) => m.channel === channel && !m.thread && !m.deleted);
  }

  callsOf(method: string): ApiCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  find(channel: string, ts: string): FakeMessage | undefined {
    return this.messages.find((m) => m.channel === channel && m.ts === ts);
  }

  shareFile(f: FakeFile): void {
    this.files.push(f);
    this.messages.push({ ts: nextTs(), channel: f.channel, ...(f.thread ? { thread: f.thread } : {}), user: this.#botUserId, text: f.comment ?? '', blocks: [], edits: 0, history: [], deleted: false, file: f });
  }

  handle(method: string, a: Json): Json {
    const channel = typeof a.channel === 'string' ? a.channel : '';
    const ts = typeof a.ts === 'string' ? a.ts : '';
    const thread = typeof a.thread_ts === 'string' && a.thread_ts.length > 0 ? a.thread_ts : undefined;
    switch (method) {
      case 'auth.test':
        return { ok: true, url: 'https://fake.slack.com/', team: 'Fake', user: 'hearth', team_id: 'T0001', user_id: this.#botUserId, bot_id: 'B0001' };
      case 'chat.postMessage': {
        if (!channel) return { ok: false, error: 'channel_not_found' };
        if (this.notInChannel.has(channel)) return { ok: false, error: 'not_in_channel' };
        if (typeof a.text !== 'string' && !Array.isArray(a.blocks)) return { ok: false, error: 'no_text' };
        const m: FakeMessage = { ts: nextTs(), channel, ...(thread ? { thread } : {}), user: this.#botUserId, text: String(a.text ?? ''), blocks: (a.blocks as Json[]) ?? [], edits: 0, history: [], deleted: false };
        m.history.push(shownText(m));
        this.messages.push(m);
        return { ok: true, channel, ts: m.ts, message: { text: m.text, ts: m.ts } };
      }
      case 'chat.update': {
        const m = this.find(channel, ts);
        if (!m || m.deleted) return { ok: false, error: 'message_not_found' };
        m.text = String(a.text ?? '');
        m.blocks = (a.blocks as Json[]) ?? [];
        m.edits++;
        m.history.push(shownText(m));
        return { ok: true, channel, ts };
      }
      case 'chat.delete': {
        const m = this.find(channel, ts);
        if (!m || m.deleted) return { ok: false, error: 'message_not_found' };
        m.deleted = true;
        return { ok: true, channel, ts };
      }
      case 'chat.postEphemeral':
        this.ephemerals.push({ channel, user: String(a.user), text: String(a.text ?? ''), ...(thread ? { thread } : {}) });
        return { ok: true, message_ts: nextTs() };
      case 'chat.startStream': {
        if (!thread) return { ok: false, error: 'invalid_arguments' };
        const dm = channel.startsWith('D');
        if (!dm && (typeof a.recipient_user_id !== 'string' || typeof a.recipient_team_id !== 'string')) return { ok: false, error: 'missing_recipient_user_id' };
        const m: FakeMessage = {
          ts: nextTs(), channel, thread, user: this.#botUserId, text: streamText(a), blocks: [], edits: 0, history: [], deleted: false,
          stream: { stopped: false, appends: 0, recipient: { team: a.recipient_team_id as string, user: a.recipient_user_id as string } },
        };
        // Every version a streamed message showed, as for an edited one.
        if (m.text !== '') m.history.push(m.text);
        this.messages.push(m);
        return { ok: true, channel, ts: m.ts };
      }
      case 'chat.appendStream':
      case 'chat.stopStream': {
        const m = this.find(channel, ts);
        if (!m?.stream) return { ok: false, error: 'message_not_found' };
        if (m.stream.stopped) return { ok: false, error: 'message_not_in_streaming_state' };
        const added = streamText(a);
        m.text += added;
        if (added !== '') m.history.push(m.text);
        if (method === 'chat.appendStream') m.stream.appends++;
        else m.stream.stopped = true;
        return { ok: true, channel, ts };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }
}

function streamText(a: Json): string {
  let text = typeof a.markdown_text === 'string' ? a.markdown_text : '';
  if (Array.isArray(a.chunks)) for (const c of a.chunks as Json[]) if (typeof c.text === 'string') text += c.text;
  return text;
}

/**
 * All the text a message shows: its text field, or, when it has blocks, its sections joined as they
 * were split (so a long answer reads back whole) and then its context lines.
 */
export function shownText(m: FakeMessage): string {
  if (m.blocks.length === 0) return m.text;
  let sections = '';
  const context: string[] = [];
  for (const b of m.blocks) {
    const t = (b.text as Json | undefined)?.text;
    if (b.type === 'section' && typeof t === 'string') sections += t;
    if (b.type === 'context' && Array.isArray(b.elements)) for (const e of b.elements as Json[]) if (typeof e.text === 'string') context.push(e.text);
  }
  return [sections, ...context].filter((x) => x.length > 0).join('\n');
}

/** The action ids and values of a message's buttons. */
export function buttonsOf(m: FakeMessage): Array<{ action: string; value: string }> {
  const out: Array<{ action: string; value: string }> = [];
  for (const b of m.blocks) {
    if (b.type !== 'actions' || !Array.isArray(b.elements)) continue;
    for (const e of b.elements as Json[]) out.push({ action: String(e.action_id), value: String(e.value) });
  }
  return out;
}
