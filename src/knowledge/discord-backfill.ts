/**
 * Reads the history of the indexed Discord channels into the knowledge index: GET
 * /channels/{id}/messages page by page (`before` the oldest message read, newest first), then each of
 * the channel's public threads (active and archived) the same way, indexed with the channel (their
 * messages carry the thread's id). Every call goes through one p-queue whose interval cap keeps to
 * `knowledge.discordRequestsPerSecond`; a 429 is waited out as Discord's Retry-After says (discord.js's
 * REST client does it, and a rejected rate-limited call is waited out here too).
 *
 * Resumable: each page is written together with where the next one starts (the cursor: `before:<id>`
 * in the channel, `thread:<thread>:<id>` inside a thread, `threads-after:<thread>` between threads),
 * so after a restart the backfill goes on from the last page written; a page read twice is upserted
 * again, never duplicated. Once the whole history is in, later starts only catch up on what came after
 * the newest message read (`syncedUntil`), in the channel and its active threads, then read the
 * newest {@link RECONCILE_MESSAGES} of each again for messages deleted while hearth was not running.
 *
 * Private threads are left out: who may read one depends on its membership, not the channel's rights.
 */
import { setTimeout as delay } from 'node:timers/promises';
import PQueue from 'p-queue';
import {
  compareSnowflakes,
  discordRateLimitWaitMs,
  indexableDiscordMessage,
  newerSnowflake,
  type DiscordChannelJson,
  type DiscordMessageJson,
  type DiscordPage,
  type DiscordReader,
} from './discord-messages.js';
import { DiscordPermission } from './discord-permissions.js';
import type { MessageIndex } from './message-index.js';
import type { ChannelRef, ChannelState, IndexedMessage } from './types.js';

/**
 * How many of the newest messages of a channel (and of each of its active threads) a catch-up reads
 * again to find those deleted while hearth was not running (their MESSAGE_DELETE went to no one).
 * Bounded so a restart costs a few pages, not the whole history again.
 */
export const RECONCILE_MESSAGES = 1000;

export interface DiscordBackfillOptions {
  api: DiscordReader;
  index: MessageIndex;
  channels: readonly string[];
  requestsPerSecond: number;
  /** hearth's own user: its answers are not indexed. */
  botUserId?: string;
  /** Messages asked for per page (Discord allows 1–100). Default 100. */
  pageSize?: number;
  now(): number;
  report(error: unknown, where: string): void;
}

/** Public threads: announcement and public (type 12, private, is left out). */
const PUBLIC_THREADS: ReadonlySet<number> = new Set([10, 11]);

type Cursor = { phase: 'channel'; before?: string } | { phase: 'threads'; thread?: string; before?: string; doneThrough?: string };

function parseCursor(c: string | undefined): Cursor {
  if (!c) return { phase: 'channel' };
  if (c.startsWith('before:')) return { phase: 'channel', before: c.slice(7) };
  if (c.startsWith('thread:')) {
    const [thread, before] = c.slice(7).split(':');
    return { phase: 'threads', ...(thread ? { thread } : {}), ...(before ? { before } : {}) };
  }
  if (c.startsWith('threads-after:')) return { phase: 'threads', doneThrough: c.slice(14) };
  return { phase: 'threads' };
}

export class DiscordBackfill {
  readonly #o: DiscordBackfillOptions;
  readonly #queue: PQueue;
  readonly #limit: number;
  #signal: AbortSignal = new AbortController().signal;

  constructor(opts: DiscordBackfillOptions) {
    this.#o = opts;
    this.#limit = Math.max(1, Math.min(100, opts.pageSize ?? 100));
    this.#queue = new PQueue({ concurrency: 1, intervalCap: opts.requestsPerSecond, interval: 1000 });
  }

  /** Every channel, one after the other; a channel that fails is reported and the others go on. */
  async run(signal: AbortSignal): Promise<void> {
    this.#signal = signal;
    for (const channel of this.#o.channels) {
      signal.throwIfAborted();
      try {
        await this.#channel(channel);
      } catch (e) {
        if (signal.aborted) throw e;
        this.#o.report(explained(e, channel), `knowledge: reading the history of Discord channel ${channel}`);
      }
    }
  }

  async #channel(id: string): Promise<void> {
    const info = await this.#call((s) => this.#o.api.channel(id, s));
    if (!info.guild_id) throw new Error(`knowledge.discordChannels names ${id}, which is not a server channel (a DM?); only server channels are indexed`);
    const ref: ChannelRef = { platform: 'discord', workspace: info.guild_id, channel: id };
    const everyone = info.permission_overwrites?.find((o) => o.id === info.guild_id);
    const hidden = everyone !== undefined && (BigInt(everyone.deny) & DiscordPermission.ViewChannel) !== 0n;
    const state = this.#o.index.updateChannel(ref, { private: hidden, ...(info.name ? { name: info.name } : {}) });
    if (state.backfilledAt === undefined) await this.#backfill(ref, state);
    else await this.#catchUp(ref, state);
  }

  async #backfill(ref: ChannelRef, state: ChannelState): Promise<void> {
    const cursor = parseCursor(state.cursor);
    let newest = state.syncedUntil;
    if (cursor.phase === 'channel') {
      newest = await this.#pages(ref, undefined, cursor.before, newest, (oldest, done) => (done ? 'threads' : `before:${oldest}`));
    }
    const threads = await this.#threadsOf(ref);
    for (const t of threads) {
      if (cursor.phase === 'threads') {
        if (cursor.doneThrough !== undefined && compareSnowflakes(t.id, cursor.doneThrough) <= 0) continue;
        if (cursor.thread !== undefined && compareSnowflakes(t.id, cursor.thread) < 0) continue;
      }
      const before = cursor.phase === 'threads' && cursor.thread === t.id ? cursor.before : undefined;
      newest = await this.#pages(ref, t.id, before, newest, (oldest, done) => (done ? `threads-after:${t.id}` : `thread:${t.id}:${oldest}`));
    }
    const now = this.#o.now();
    this.#o.index.savePage(ref, [], { cursor: null, backfilledAt: now, lastSyncAt: now, ...(newest ? { syncedUntil: newest } : {}) });
  }

  /**
   * A channel's (or one of its threads') history from `before` back to its first message, each page
   * written with the cursor `next` makes of it. Returns the newest message id seen.
   */
  async #pages(ref: ChannelRef, thread: string | undefined, from: string | undefined, newest: string | undefined, next: (oldest: string, done: boolean) => string): Promise<string | undefined> {
    let before = from;
    for (;;) {
      const page = await this.#read(thread ?? ref.channel, { limit: this.#limit, ...(before ? { before } : {}) });
      const messages = this.#indexable(page, ref, thread);
      let oldest: string | undefined;
      for (const raw of page) {
        newest = newerSnowflake(newest, raw.id);
        if (oldest === undefined || compareSnowflakes(raw.id, oldest) < 0) oldest = raw.id;
      }
      const done = page.length < this.#limit || oldest === undefined;
      this.#o.index.savePage(ref, messages, { cursor: next(oldest ?? before ?? '', done), lastSyncAt: this.#o.now(), ...(newest ? { syncedUntil: newest } : {}) });
      if (done) return newest;
      before = oldest;
    }
  }

  /** After a whole backfill: what came since the newest message read, in the channel and its active threads. */
  async #catchUp(ref: ChannelRef, state: ChannelState): Promise<void> {
    const since = state.syncedUntil ?? '0';
    let newest = state.syncedUntil;
    const active = (await this.#call((s) => this.#o.api.activeThreads(ref.workspace, s))).filter((t) => t.parent_id === ref.channel && PUBLIC_THREADS.has(t.type));
    for (const where of [undefined, ...active.map((t) => t.id)]) {
      let after = since;
      for (;;) {
        const page = await this.#read(where ?? ref.channel, { limit: this.#limit, after });
        const messages = this.#indexable(page, ref, where);
        let last = after;
        for (const raw of page) {
          newest = newerSnowflake(newest, raw.id);
          last = newerSnowflake(last, raw.id) ?? last;
        }
        this.#o.index.savePage(ref, messages, { lastSyncAt: this.#o.now() });
        if (page.length < this.#limit || last === after) break;
        after = last;
      }
    }
    this.#o.index.updateChannel(ref, { lastSyncAt: this.#o.now(), ...(newest ? { syncedUntil: newest } : {}) });
    if (newest) for (const where of [undefined, ...active.map((t) => t.id)]) await this.#reconcile(ref, where, newest);
  }

  /**
   * Removes the indexed messages of the channel (or of one thread) that its newest
   * {@link RECONCILE_MESSAGES} no longer hold. Only what this reading could have seen goes: nothing
   * newer than `newest` (live messages meanwhile), nothing older than the oldest message read unless
   * the whole history was read.
   */
  async #reconcile(ref: ChannelRef, thread: string | undefined, newest: string): Promise<void> {
    const seen = new Set<string>();
    let oldest: string | undefined;
    let oldestAt = Number.POSITIVE_INFINITY;
    let complete = false;
    for (;;) {
      const page = await this.#read(thread ?? ref.channel, { limit: this.#limit, ...(oldest ? { before: oldest } : {}) });
      for (const raw of page) {
        seen.add(raw.id);
        if (oldest === undefined || compareSnowflakes(raw.id, oldest) < 0) oldest = raw.id;
        const at = raw.timestamp ? Date.parse(raw.timestamp) : NaN;
        if (Number.isFinite(at)) oldestAt = Math.min(oldestAt, at);
      }
      complete = page.length < this.#limit;
      if (complete || seen.size >= RECONCILE_MESSAGES) break;
    }
    this.#signal.throwIfAborted();
    // Rows written a little before the oldest message read are looked at too (times are the messages' own); the id decides.
    const from = complete || !Number.isFinite(oldestAt) ? 0 : oldestAt - 60_000;
    for (const m of this.#o.index.messagesSince(ref, from)) {
      if (m.threadId !== thread || seen.has(m.messageId) || compareSnowflakes(m.messageId, newest) > 0) continue;
      if (!complete && oldest !== undefined && compareSnowflakes(m.messageId, oldest) < 0) continue;
      this.#o.index.remove(ref, m.messageId);
    }
  }

  /** The channel's public threads, active and archived, oldest first (the order a resumed backfill goes on in). */
  async #threadsOf(ref: ChannelRef): Promise<DiscordChannelJson[]> {
    const byId = new Map<string, DiscordChannelJson>();
    const active = await this.#call((s) => this.#o.api.activeThreads(ref.workspace, s));
    for (const t of active) if (t.parent_id === ref.channel && PUBLIC_THREADS.has(t.type)) byId.set(t.id, t);
    let before: string | undefined;
    for (;;) {
      const page = await this.#call((s) => this.#o.api.archivedThreads(ref.channel, before, s));
      for (const t of page.threads) if (PUBLIC_THREADS.has(t.type)) byId.set(t.id, t);
      const last = page.threads.at(-1)?.archivedAt;
      if (!page.hasMore || !last || last === before) break;
      before = last;
    }
    return [...byId.values()].sort((a, b) => compareSnowflakes(a.id, b.id));
  }

  #read(channel: string, page: DiscordPage): Promise<DiscordMessageJson[]> {
    return this.#call((s) => this.#o.api.messages(channel, page, s));
  }

  #indexable(page: readonly DiscordMessageJson[], ref: ChannelRef, thread: string | undefined): IndexedMessage[] {
    const out: IndexedMessage[] = [];
    const where = { guild: ref.workspace, channel: ref.channel, ...(thread ? { thread } : {}), ...(this.#o.botUserId ? { botUserId: this.#o.botUserId } : {}) };
    for (const raw of page) {
      const m = indexableDiscordMessage(raw, where);
      if (m) out.push(m);
    }
    return out;
  }

  /** One REST call through the rate-limited queue; a rejected rate-limited call is waited out and made again. */
  async #call<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const signal = this.#signal;
    for (;;) {
      signal.throwIfAborted();
      try {
        // p-queue never removes the abort listener it adds to a task's signal: each call gets its own
        // dependent signal, so listeners do not pile up on the backfill's long-lived one.
        const own = AbortSignal.any([signal]);
        return await this.#queue.add(() => fn(own), { throwOnTimeout: true, signal: own });
      } catch (e) {
        const wait = discordRateLimitWaitMs(e);
        if (wait === undefined || signal.aborted) throw e;
        await delay(wait, undefined, { signal });
      }
    }
  }
}

/** Discord's "Missing Access" (50001) and "Unknown Channel" (10003), with what the admin can do about them. */
function explained(e: unknown, channel: string): unknown {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  if (code === 50001) {
    return new Error(`Discord refused to show channel ${channel} (Missing Access): give the bot View Channel and Read Message History there`, { cause: e });
  }
  if (code === 10003) return new Error(`knowledge.discordChannels names ${channel}, which Discord does not know (Unknown Channel)`, { cause: e });
  return e;
}
