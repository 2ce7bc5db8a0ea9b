/**
 * Workspace knowledge for Discord: the backfill of `knowledge.discordChannels` once the bot is
 * connected, live updates from the gateway (MESSAGE_CREATE, MESSAGE_UPDATE, MESSAGE_DELETE,
 * MESSAGE_DELETE_BULK; a thread's messages go with its channel), and what retrieval asks of Discord:
 * who can read an indexed channel, computed from the guild's roles and the channel's overwrites for
 * the asker's roles (each read from REST and kept `knowledge.accessCacheSeconds`), and message links.
 */
import { DiscordBackfill } from './discord-backfill.js';
import {
  discordMessageLink,
  indexableDiscordMessage,
  THREAD_TYPES,
  type DiscordChannelJson,
  type DiscordGuildAccess,
  type DiscordMessageJson,
  type DiscordReader,
} from './discord-messages.js';
import { canReadHistory, channelPermissions } from './discord-permissions.js';
import type { MessageIndex } from './message-index.js';
import { TtlCache } from './ttl-cache.js';
import type { ChannelRef, IndexedMessage, PlatformKnowledge } from './types.js';

export interface DiscordKnowledgeOptions {
  api: DiscordReader;
  index: MessageIndex;
  channels: readonly string[];
  requestsPerSecond: number;
  accessCacheMs: number;
  /** Messages per history page asked for (default 100, Discord's most). */
  pageSize?: number;
  now(): number;
  report(error: unknown, where: string): void;
}

/** A channel's parent does not change: where a thread belongs is kept a day. */
const PARENT_TTL_MS = 86_400_000;

/** A gateway MESSAGE_DELETE / MESSAGE_DELETE_BULK payload. */
export interface DiscordDeletion {
  channel_id: string;
  guild_id?: string;
  id?: string;
  ids?: string[];
}

export class DiscordKnowledge implements PlatformKnowledge {
  readonly platform = 'discord' as const;
  readonly #o: DiscordKnowledgeOptions;
  readonly #channels: ReadonlySet<string>;
  readonly #guilds: TtlCache<string, Promise<DiscordGuildAccess>>;
  readonly #members: TtlCache<string, Promise<readonly string[] | null>>;
  readonly #overwrites: TtlCache<string, Promise<DiscordChannelJson>>;
  /** Channel id → the indexed channel its messages belong to (itself, a thread's parent) or null. */
  readonly #parents: TtlCache<string, Promise<string | null>>;
  readonly #abort = new AbortController();
  #botUserId: string | undefined;
  #running: Promise<void> | undefined;

  constructor(opts: DiscordKnowledgeOptions) {
    this.#o = opts;
    this.#channels = new Set(opts.channels);
    const cache = { ttlMs: opts.accessCacheMs, now: opts.now };
    this.#guilds = new TtlCache(cache);
    this.#members = new TtlCache(cache);
    this.#overwrites = new TtlCache(cache);
    this.#parents = new TtlCache({ ttlMs: PARENT_TTL_MS, now: opts.now });
  }

  /** Starts the backfill in the background; resolves at once. */
  start(opts: { botUserId?: string } = {}): void {
    this.#botUserId = opts.botUserId;
    this.#running ??= new DiscordBackfill({
      api: this.#o.api,
      index: this.#o.index,
      channels: this.#o.channels,
      requestsPerSecond: this.#o.requestsPerSecond,
      ...(opts.botUserId ? { botUserId: opts.botUserId } : {}),
      ...(this.#o.pageSize ? { pageSize: this.#o.pageSize } : {}),
      now: this.#o.now,
      report: this.#o.report,
    })
      .run(this.#abort.signal)
      .catch((e: unknown) => {
        if (!this.#abort.signal.aborted) this.#o.report(e, 'knowledge: Discord backfill');
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

  /** A new message (MESSAGE_CREATE) or an edit (MESSAGE_UPDATE): indexed when its channel (or thread's channel) is. */
  async onMessage(raw: DiscordMessageJson, edit: boolean): Promise<void> {
    const guild = raw.guild_id;
    if (!guild) return;
    const channel = await this.#indexedChannelOf(raw.channel_id);
    if (!channel) return;
    const ref: ChannelRef = { platform: 'discord', workspace: guild, channel };
    // An edit may come without the message's content (an embed resolving): nothing to change then.
    if (edit && (raw.content === undefined || raw.author === undefined)) return;
    const thread = channel !== raw.channel_id ? raw.channel_id : undefined;
    const m = indexableDiscordMessage(raw, { guild, channel, ...(thread ? { thread } : {}), ...(this.#botUserId ? { botUserId: this.#botUserId } : {}) });
    if (m) {
      // A channel dropped by an admin while still configured starts over: its row makes it searchable
      // again, and with no backfill recorded its history is read again at the next start.
      if (!this.#o.index.channel(ref)) this.#o.index.updateChannel(ref, { lastSyncAt: this.#o.now() });
      this.#o.index.upsert([m]);
    }
    // Edited into nothing to index (its text removed): it leaves the index.
    else if (edit) this.#o.index.remove(ref, raw.id);
  }

  /** A deletion (one message or a bulk delete): the messages leave the index. */
  async onDelete(d: DiscordDeletion): Promise<void> {
    if (!d.guild_id) return;
    const channel = await this.#indexedChannelOf(d.channel_id);
    if (!channel) return;
    const ref: ChannelRef = { platform: 'discord', workspace: d.guild_id, channel };
    for (const id of d.ids ?? (d.id ? [d.id] : [])) this.#o.index.remove(ref, id);
  }

  /** The indexed channel a channel's messages go to: itself, or a public thread's parent; null for neither. */
  #indexedChannelOf(channel: string): Promise<string | null> {
    if (this.#channels.has(channel)) return Promise.resolve(channel);
    let parent = this.#parents.get(channel);
    if (!parent) {
      parent = this.#o.api.channel(channel).then((c) => (THREAD_TYPES.has(c.type) && c.type !== 12 && c.parent_id && this.#channels.has(c.parent_id) ? c.parent_id : null));
      this.#parents.set(channel, parent);
      parent.catch(() => this.#parents.delete(channel));
    }
    return parent;
  }

  async readable(workspace: string, user: string, channels: readonly string[], signal?: AbortSignal): Promise<Set<string>> {
    const out = new Set<string>();
    for (const channel of channels) {
      signal?.throwIfAborted();
      if (!this.#channels.has(channel)) continue;
      // A channel not read in this guild has nothing indexed here: knowledge never crosses servers.
      if (!this.#o.index.channel({ platform: 'discord', workspace, channel })) continue;
      try {
        if (await this.#canRead(workspace, user, channel)) out.add(channel);
      } catch (e) {
        // Not knowing is not reading: the channel is left out of this answer.
        this.#o.report(e, `knowledge: who can read Discord channel ${channel}`);
      }
    }
    return out;
  }

  async #canRead(guild: string, user: string, channel: string): Promise<boolean> {
    // Shared answers are loaded without one question's signal: a question given up on does not fail the others.
    const [access, roles, info] = await Promise.all([
      this.#cached(this.#guilds, guild, () => this.#o.api.guild(guild)),
      this.#cached(this.#members, `${guild}:${user}`, async () => (await this.#o.api.member(guild, user))?.roles ?? null),
      this.#cached(this.#overwrites, channel, () => this.#o.api.channel(channel)),
    ]);
    // Someone who has left the server reads nothing of it.
    if (roles === null || info.guild_id !== guild) return false;
    return canReadHistory(channelPermissions(guild, access, info, user, roles));
  }

  /** One request per key while its answer is fresh; a failed one is asked again next time. */
  #cached<T>(cache: TtlCache<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
    let p = cache.get(key);
    if (!p) {
      p = load();
      cache.set(key, p);
      p.catch(() => cache.delete(key));
    }
    return p;
  }

  async link(message: IndexedMessage): Promise<string | undefined> {
    return message.permalink ?? discordMessageLink(message.workspace, message.threadId ?? message.channel, message.messageId);
  }

  /** Forgets who can read what (after an admin changes roles, say). */
  clearAccessCache(): void {
    this.#guilds.clear();
    this.#members.clear();
    this.#overwrites.clear();
  }
}
