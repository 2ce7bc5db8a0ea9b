/**
 * The knowledge index in hearth's own SQLite database (tables from migration 3): messages with an
 * FTS5 full-text index kept in step by triggers, and per channel where its backfill stands. Writes are
 * IMMEDIATE transactions, as in the job store; a page of history and the cursor after it are written
 * together, so a backfill resumed after a restart neither skips nor repeats a page.
 */
import type Database from 'better-sqlite3';
import type { ChannelRef, ChannelState, ChannelStats, IndexedMessage, KnowledgeStats, SearchHit } from './types.js';

interface MessageRow {
  platform: string;
  workspace: string;
  channel: string;
  message_id: string;
  thread_id: string | null;
  author: string;
  author_name: string | null;
  at: number;
  text: string;
  permalink: string | null;
}

interface ChannelRow {
  platform: string;
  workspace: string;
  channel: string;
  name: string | null;
  private: number | null;
  cursor: string | null;
  backfilled_at: number | null;
  synced_until: string | null;
  last_sync_at: number | null;
}

/** What a search looks in: one workspace of one platform, and only these channels. */
export interface SearchScope {
  platform: ChannelRef['platform'];
  workspace: string;
  channels: readonly string[];
}

/** Fields of a channel's state to change; `null` clears one. */
export type ChannelPatch = { [K in keyof Omit<ChannelState, keyof ChannelRef>]?: ChannelState[K] | null };

const COLUMNS = 'platform, workspace, channel, message_id, thread_id, author, author_name, at, text, permalink';

export class MessageIndex {
  readonly #db: Database.Database;
  readonly #upsert: Database.Statement<[MessageRow]>;
  readonly #remove: Database.Statement<[string, string, string, string]>;
  readonly #get: Database.Statement<[string, string, string, string], MessageRow>;
  readonly #permalink: Database.Statement<[string, string, string, string, string]>;
  readonly #search: Database.Statement<[string, string, string, string, number], MessageRow & { score: number }>;
  readonly #channel: Database.Statement<[string, string, string], ChannelRow>;
  readonly #saveChannel: Database.Statement<[ChannelRow]>;
  readonly #dropMessages: Database.Statement<[string, string, string]>;
  readonly #dropChannel: Database.Statement<[string, string, string]>;
  readonly #channels: Database.Statement<[], ChannelRow & { messages: number }>;
  readonly #count: Database.Statement<[string, string, string], { n: number }>;
  #matching: Database.Statement<[string, number], { n: number }> | undefined;
  #size: Database.Statement<[], { n: number | null }> | undefined;
  readonly #refs: Database.Statement<[string, string], { workspace: string; channel: string }>;
  readonly #since: Database.Statement<[string, string, string, number], { message_id: string; thread_id: string | null; at: number }>;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#upsert = db.prepare<[MessageRow]>(`
      INSERT INTO knowledge_messages (${COLUMNS})
      VALUES (@platform, @workspace, @channel, @message_id, @thread_id, @author, @author_name, @at, @text, @permalink)
      ON CONFLICT (platform, workspace, channel, message_id) DO UPDATE SET
        thread_id = excluded.thread_id, author = excluded.author,
        author_name = coalesce(excluded.author_name, author_name), at = excluded.at,
        text = excluded.text, permalink = coalesce(excluded.permalink, permalink)
      WHERE text IS NOT excluded.text OR thread_id IS NOT excluded.thread_id OR author IS NOT excluded.author
        OR at IS NOT excluded.at OR (excluded.author_name IS NOT NULL AND author_name IS NOT excluded.author_name)
        OR (excluded.permalink IS NOT NULL AND permalink IS NOT excluded.permalink)`);
    this.#remove = db.prepare<[string, string, string, string]>('DELETE FROM knowledge_messages WHERE platform = ? AND workspace = ? AND channel = ? AND message_id = ?');
    this.#get = db.prepare<[string, string, string, string], MessageRow>(`SELECT ${COLUMNS} FROM knowledge_messages WHERE platform = ? AND workspace = ? AND channel = ? AND message_id = ?`);
    this.#permalink = db.prepare<[string, string, string, string, string]>('UPDATE knowledge_messages SET permalink = ? WHERE platform = ? AND workspace = ? AND channel = ? AND message_id = ?');
    this.#search = db.prepare<[string, string, string, string, number], MessageRow & { score: number }>(`
      SELECT ${COLUMNS.split(', ').map((c) => `m.${c}`).join(', ')}, bm25(knowledge_fts) AS score
      FROM knowledge_fts JOIN knowledge_messages m ON m.id = knowledge_fts.rowid
      WHERE knowledge_fts MATCH ? AND m.platform = ? AND m.workspace = ?
        AND m.channel IN (SELECT value FROM json_each(?))
      ORDER BY score, m.at DESC LIMIT ?`);
    this.#channel = db.prepare<[string, string, string], ChannelRow>('SELECT * FROM knowledge_channels WHERE platform = ? AND workspace = ? AND channel = ?');
    this.#saveChannel = db.prepare<[ChannelRow]>(`
      INSERT INTO knowledge_channels (platform, workspace, channel, name, private, cursor, backfilled_at, synced_until, last_sync_at)
      VALUES (@platform, @workspace, @channel, @name, @private, @cursor, @backfilled_at, @synced_until, @last_sync_at)
      ON CONFLICT (platform, workspace, channel) DO UPDATE SET
        name = excluded.name, private = excluded.private, cursor = excluded.cursor, backfilled_at = excluded.backfilled_at,
        synced_until = excluded.synced_until, last_sync_at = excluded.last_sync_at`);
    this.#dropMessages = db.prepare<[string, string, string]>('DELETE FROM knowledge_messages WHERE platform = ? AND workspace = ? AND channel = ?');
    this.#dropChannel = db.prepare<[string, string, string]>('DELETE FROM knowledge_channels WHERE platform = ? AND workspace = ? AND channel = ?');
    this.#channels = db.prepare<[], ChannelRow & { messages: number }>(`
      SELECT c.*, (SELECT count(*) FROM knowledge_messages m
                   WHERE m.platform = c.platform AND m.workspace = c.workspace AND m.channel = c.channel) AS messages
      FROM knowledge_channels c ORDER BY c.platform, c.workspace, c.channel`);
    this.#count = db.prepare<[string, string, string], { n: number }>('SELECT count(*) AS n FROM knowledge_messages WHERE platform = ? AND workspace = ? AND channel = ?');
    this.#refs = db.prepare<[string, string], { workspace: string; channel: string }>(
      'SELECT workspace, channel FROM knowledge_channels WHERE platform = ? AND channel IN (SELECT value FROM json_each(?)) ORDER BY workspace, channel');
    this.#since = db.prepare<[string, string, string, number], { message_id: string; thread_id: string | null; at: number }>(
      'SELECT message_id, thread_id, at FROM knowledge_messages WHERE platform = ? AND workspace = ? AND channel = ? AND at >= ?');
  }

  /** Adds messages, or brings them up to date (an edit): one row per message, never two. */
  upsert(messages: readonly IndexedMessage[]): void {
    this.#db.transaction(() => {
      for (const m of messages) this.#upsert.run(toRow(m));
    }).immediate();
  }

  /** Removes a message (deleted on the platform). True when it was indexed. */
  remove(ref: ChannelRef, messageId: string): boolean {
    return this.#remove.run(ref.platform, ref.workspace, ref.channel, messageId).changes > 0;
  }

  get(ref: ChannelRef, messageId: string): IndexedMessage | undefined {
    const row = this.#get.get(ref.platform, ref.workspace, ref.channel, messageId);
    return row ? fromRow(row) : undefined;
  }

  setPermalink(ref: ChannelRef, messageId: string, url: string): void {
    this.#permalink.run(url, ref.platform, ref.workspace, ref.channel, messageId);
  }

  /**
   * The best matches of an FTS5 query (see {@link ftsQuery}) in the scope's channels, best first
   * (bm25, then newest). An empty channel list finds nothing.
   */
  search(match: string, scope: SearchScope, limit: number): SearchHit[] {
    if (scope.channels.length === 0 || match.length === 0) return [];
    const rows = this.#search.all(match, scope.platform, scope.workspace, JSON.stringify(scope.channels), Math.max(1, Math.floor(limit)));
    return rows.map((r) => ({ ...fromRow(r), score: r.score }));
  }

  /**
   * How many messages an FTS5 expression matches, counting no further than `cap` (cheap: no ranking,
   * no join). Used to leave out words too common to tell messages apart (src/knowledge/common-terms.ts).
   */
  documentsMatching(match: string, cap: number): number {
    if (match.length === 0) return 0;
    this.#matching ??= this.#db.prepare<[string, number], { n: number }>('SELECT count(*) AS n FROM (SELECT rowid FROM knowledge_fts WHERE knowledge_fts MATCH ? LIMIT ?)');
    return this.#matching.get(match, Math.max(0, Math.floor(cap)))?.n ?? 0;
  }

  /** About how many messages are indexed (the highest row id: O(log n), never fewer). */
  approximateSize(): number {
    this.#size ??= this.#db.prepare<[], { n: number | null }>('SELECT max(id) AS n FROM knowledge_messages');
    return this.#size.get()?.n ?? 0;
  }

  channel(ref: ChannelRef): ChannelState | undefined {
    const row = this.#channel.get(ref.platform, ref.workspace, ref.channel);
    return row ? channelFromRow(row) : undefined;
  }

  /** Changes some of a channel's state (creating its row the first time). */
  updateChannel(ref: ChannelRef, patch: ChannelPatch): ChannelState {
    return this.#db.transaction(() => this.#updateChannel(ref, patch)).immediate();
  }

  /**
   * One page of history and the state after it, in one transaction: a restart resumes after the last
   * page written, and a page written twice (cut off before its cursor) changes nothing.
   */
  savePage(ref: ChannelRef, messages: readonly IndexedMessage[], patch: ChannelPatch): ChannelState {
    return this.#db.transaction(() => {
      for (const m of messages) this.#upsert.run(toRow(m));
      return this.#updateChannel(ref, patch);
    }).immediate();
  }

  /** Forgets a channel: its messages and its sync state. Returns how many messages went. */
  dropChannel(ref: ChannelRef): number {
    return this.#db.transaction(() => {
      const n = this.#dropMessages.run(ref.platform, ref.workspace, ref.channel).changes;
      this.#dropChannel.run(ref.platform, ref.workspace, ref.channel);
      return n;
    }).immediate();
  }

  count(ref: ChannelRef): number {
    return this.#count.get(ref.platform, ref.workspace, ref.channel)?.n ?? 0;
  }

  /**
   * Where these channels of a platform are indexed: one ref per workspace that holds one of them (a
   * channel id names one channel of its platform, so normally one each); channels not indexed yet
   * have none.
   */
  channelRefs(platform: ChannelRef['platform'], channels: readonly string[]): ChannelRef[] {
    if (channels.length === 0) return [];
    return this.#refs.all(platform, JSON.stringify(channels)).map((r) => ({ platform, workspace: r.workspace, channel: r.channel }));
  }

  /** The messages of a channel written at or after `at` (epoch ms): their ids, threads and times. */
  messagesSince(ref: ChannelRef, at: number): Array<{ messageId: string; threadId?: string; at: number }> {
    return this.#since.all(ref.platform, ref.workspace, ref.channel, at).map((r) => ({ messageId: r.message_id, at: r.at, ...(r.thread_id !== null ? { threadId: r.thread_id } : {}) }));
  }

  /** What is indexed: every channel with its message count and sync state. */
  stats(): KnowledgeStats {
    const channels: ChannelStats[] = this.#channels.all().map((r) => ({ ...channelFromRow(r), messages: r.messages }));
    const messages = channels.reduce((n, c) => n + c.messages, 0);
    const last = Math.max(0, ...channels.map((c) => c.lastSyncAt ?? 0));
    return { channels, messages, ...(last > 0 ? { lastSyncAt: last } : {}) };
  }

  #updateChannel(ref: ChannelRef, patch: ChannelPatch): ChannelState {
    const current: ChannelRow = this.#channel.get(ref.platform, ref.workspace, ref.channel) ?? {
      platform: ref.platform, workspace: ref.workspace, channel: ref.channel,
      name: null, private: null, cursor: null, backfilled_at: null, synced_until: null, last_sync_at: null,
    };
    const next: ChannelRow = { ...current };
    if (patch.name !== undefined) next.name = patch.name;
    if (patch.private !== undefined) next.private = patch.private === null ? null : patch.private ? 1 : 0;
    if (patch.cursor !== undefined) next.cursor = patch.cursor;
    if (patch.backfilledAt !== undefined) next.backfilled_at = patch.backfilledAt;
    if (patch.syncedUntil !== undefined) next.synced_until = patch.syncedUntil;
    if (patch.lastSyncAt !== undefined) next.last_sync_at = patch.lastSyncAt;
    this.#saveChannel.run(next);
    return channelFromRow(next);
  }
}

function toRow(m: IndexedMessage): MessageRow {
  return {
    platform: m.platform,
    workspace: m.workspace,
    channel: m.channel,
    message_id: m.messageId,
    thread_id: m.threadId ?? null,
    author: m.author,
    author_name: m.authorName ?? null,
    at: m.at,
    text: m.text,
    permalink: m.permalink ?? null,
  };
}

function fromRow(r: MessageRow): IndexedMessage {
  const m: IndexedMessage = {
    platform: r.platform as IndexedMessage['platform'],
    workspace: r.workspace,
    channel: r.channel,
    messageId: r.message_id,
    author: r.author,
    at: r.at,
    text: r.text,
  };
  if (r.thread_id !== null) m.threadId = r.thread_id;
  if (r.author_name !== null) m.authorName = r.author_name;
  if (r.permalink !== null) m.permalink = r.permalink;
  return m;
}

function channelFromRow(r: ChannelRow): ChannelState {
  const c: ChannelState = { platform: r.platform as ChannelState['platform'], workspace: r.workspace, channel: r.channel };
  if (r.name !== null) c.name = r.name;
  if (r.private !== null) c.private = r.private === 1;
  if (r.cursor !== null) c.cursor = r.cursor;
  if (r.backfilled_at !== null) c.backfilledAt = r.backfilled_at;
  if (r.synced_until !== null) c.syncedUntil = r.synced_until;
  if (r.last_sync_at !== null) c.lastSyncAt = r.last_sync_at;
  return c;
}
