/**
 * Workspace knowledge for Slack: the backfill of `knowledge.slackChannels` once the app is connected,
 * live updates from message events (new, edited, deleted), and what retrieval asks of Slack: who
 * can read an indexed channel (public: anyone in the workspace; private: its members, from
 * conversations.members, cached for `knowledge.accessCacheSeconds`) and permalinks (chat.getPermalink,
 * kept in the index once asked).
 */
import type { MessageIndex } from './message-index.js';
import { SlackBackfill } from './slack-backfill.js';
import { indexableSlackMessage, type SlackReader } from './slack-messages.js';
import { TtlCache } from './ttl-cache.js';
import type { ChannelRef, IndexedMessage, PlatformKnowledge } from './types.js';

export interface SlackKnowledgeOptions {
  api: SlackReader;
  index: MessageIndex;
  channels: readonly string[];
  requestsPerMinute: number;
  accessCacheMs: number;
  /** Items per history page asked for (default 200). */
  pageSize?: number;
  now(): number;
  report(error: unknown, where: string): void;
}

/** Names change seldom: they are asked again after a day. */
const NAME_TTL_MS = 86_400_000;

export class SlackKnowledge implements PlatformKnowledge {
  readonly platform = 'slack' as const;
  readonly #o: SlackKnowledgeOptions;
  readonly #channels: ReadonlySet<string>;
  readonly #members: TtlCache<string, Promise<ReadonlySet<string>>>;
  readonly #names: TtlCache<string, string | null>;
  readonly #abort = new AbortController();
  #botUserId: string | undefined;
  #running: Promise<void> | undefined;

  constructor(opts: SlackKnowledgeOptions) {
    this.#o = opts;
    this.#channels = new Set(opts.channels);
    this.#members = new TtlCache({ ttlMs: opts.accessCacheMs, now: opts.now });
    this.#names = new TtlCache({ ttlMs: NAME_TTL_MS, now: opts.now });
  }

  /** Starts the backfill in the background (the workspace is the bot token's); resolves at once. */
  start(opts: { botUserId?: string } = {}): void {
    this.#botUserId = opts.botUserId;
    this.#running ??= this.#backfill().catch((e: unknown) => {
      if (!this.#abort.signal.aborted) this.#o.report(e, 'knowledge: Slack backfill');
    });
  }

  /** Stops the backfill (a page being read is not written) and waits for it. */
  async stop(): Promise<void> {
    this.#abort.abort(new Error('hearth is stopping'));
    await this.#running;
  }

  /** Settles when the backfill has gone through every channel (or failed, or was stopped). */
  get backfilled(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  async #backfill(): Promise<void> {
    const workspace = await this.#o.api.team();
    const backfill = new SlackBackfill({
      api: this.#o.api,
      index: this.#o.index,
      workspace,
      channels: this.#o.channels,
      requestsPerMinute: this.#o.requestsPerMinute,
      ...(this.#botUserId ? { botUserId: this.#botUserId } : {}),
      ...(this.#o.pageSize ? { pageSize: this.#o.pageSize } : {}),
      now: this.#o.now,
      names: (users, call) => this.#lookupNames(users, call),
      report: this.#o.report,
    });
    await backfill.run(this.#abort.signal);
  }

  /**
   * A `message` event from Slack (team = the event's workspace): a new message of an indexed channel
   * is added, an edit replaces its text, a deletion removes it. Other events are ignored.
   */
  async onEvent(team: string, event: unknown): Promise<void> {
    if (typeof event !== 'object' || event === null) return;
    const e = event as Record<string, unknown>;
    const channel = typeof e.channel === 'string' ? e.channel : undefined;
    if (!channel || !this.#channels.has(channel)) return;
    const ref: ChannelRef = { platform: 'slack', workspace: team, channel };
    const where = { workspace: team, channel, ...(this.#botUserId ? { botUserId: this.#botUserId } : {}) };
    if (e.subtype === 'message_deleted') {
      if (typeof e.deleted_ts === 'string') this.#o.index.remove(ref, e.deleted_ts);
      return;
    }
    if (e.subtype === 'message_changed') {
      const changed = e.message as Record<string, unknown> | undefined;
      const m = indexableSlackMessage(changed, where);
      // Edited into something not to index (e.g. a deleted parent's tombstone): it leaves the index.
      if (!m) {
        if (typeof changed?.ts === 'string') this.#o.index.remove(ref, changed.ts);
        return;
      }
      return this.#add(m);
    }
    const m = indexableSlackMessage(e, where);
    if (m) await this.#add(m);
  }

  async #add(m: IndexedMessage): Promise<void> {
    const names = await this.#lookupNames([m.author], (fn) => fn());
    const name = names.get(m.author);
    this.#o.index.upsert([name ? { ...m, authorName: name } : m]);
  }

  async readable(workspace: string, user: string, channels: readonly string[], signal?: AbortSignal): Promise<Set<string>> {
    const out = new Set<string>();
    for (const channel of channels) {
      signal?.throwIfAborted();
      if (!this.#channels.has(channel)) continue;
      const ref: ChannelRef = { platform: 'slack', workspace, channel };
      try {
        if (await this.#canRead(ref, user)) out.add(channel);
      } catch (e) {
        // Not knowing is not reading: the channel is left out of this answer.
        this.#o.report(e, `knowledge: who can read Slack channel ${channel}`);
      }
    }
    return out;
  }

  async #canRead(ref: ChannelRef, user: string): Promise<boolean> {
    const state = this.#o.index.channel(ref);
    // A channel not backfilled in this workspace has nothing indexed here.
    if (!state) return false;
    let isPrivate = state.private;
    if (isPrivate === undefined) {
      const info = await this.#o.api.channelInfo(ref.channel);
      this.#o.index.updateChannel(ref, { private: info.private });
      isPrivate = info.private;
    }
    if (!isPrivate) return true;
    const key = `${ref.workspace}:${ref.channel}`;
    let members = this.#members.get(key);
    if (!members) {
      members = this.#membersOf(ref.channel);
      this.#members.set(key, members);
      members.catch(() => this.#members.delete(key));
    }
    return (await members).has(user);
  }

  async #membersOf(channel: string): Promise<ReadonlySet<string>> {
    const out = new Set<string>();
    let cursor: string | undefined;
    for (;;) {
      const page = await this.#o.api.members(channel, { limit: 500, ...(cursor ? { cursor } : {}) });
      for (const m of page.items) out.add(m);
      if (page.next === undefined) return out;
      cursor = page.next;
    }
  }

  async link(message: IndexedMessage): Promise<string | undefined> {
    if (message.permalink) return message.permalink;
    try {
      const url = await this.#o.api.permalink(message.channel, message.messageId);
      this.#o.index.setPermalink(message, message.messageId, url);
      return url;
    } catch (e) {
      const code = (e as { data?: { error?: unknown } }).data?.error;
      if (code === 'message_not_found') {
        this.#o.index.remove(message, message.messageId);
        return undefined;
      }
      throw e;
    }
  }

  async #lookupNames(users: readonly string[], call: <T>(fn: () => Promise<T>) => Promise<T>): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const u of users) {
      let name = this.#names.get(u);
      if (name === undefined) {
        // A bot id (B…) has no users.info entry.
        name = u.startsWith('U') || u.startsWith('W') ? ((await call(() => this.#o.api.userName(u)).catch(() => undefined)) ?? null) : null;
        this.#names.set(u, name);
      }
      if (name) out.set(u, name);
    }
    return out;
  }
}
