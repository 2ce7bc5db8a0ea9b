/**
 * Reads the history of the indexed Slack channels into the knowledge index: conversations.history
 * page by page (newest first), each thread through conversations.replies, every call through one
 * p-queue whose interval cap keeps to `knowledge.slackRequestsPerMinute` (and a 429 is waited out as
 * Slack's Retry-After says).
 *
 * Resumable: each page is written together with the cursor of the next one, so after a restart the
 * backfill goes on from the last page written; a page read twice (cut off before its cursor was
 * written) is upserted again, never duplicated. Once a channel's whole history is in, later starts
 * only catch up on what came after the newest message read (`syncedUntil`), then look over the
 * channel's last {@link RECONCILE_DAYS} days again for messages deleted while hearth was not running.
 */
import { setTimeout as delay } from 'node:timers/promises';
import PQueue from 'p-queue';
import type { MessageIndex } from './message-index.js';
import { indexableSlackMessage, rateLimitWaitMs, type SlackReader } from './slack-messages.js';
import type { ChannelRef, IndexedMessage } from './types.js';

/**
 * How far back a catch-up looks for messages deleted while hearth was not running (Slack sent their
 * deletions to no one). Bounded so a restart costs a few pages, not the whole history again.
 */
export const RECONCILE_DAYS = 30;

export interface SlackBackfillOptions {
  api: SlackReader;
  index: MessageIndex;
  workspace: string;
  channels: readonly string[];
  requestsPerMinute: number;
  /** hearth's own bot user: its answers are not indexed. */
  botUserId?: string;
  /** Items asked for per page (Slack may give fewer). Default 200. */
  pageSize?: number;
  now(): number;
  /** Names of authors (cached by the caller); a failure leaves ids. */
  names(users: readonly string[], call: <T>(fn: () => Promise<T>) => Promise<T>): Promise<Map<string, string>>;
  report(error: unknown, where: string): void;
}

export class SlackBackfill {
  readonly #o: SlackBackfillOptions;
  readonly #queue: PQueue;
  #signal: AbortSignal = new AbortController().signal;

  constructor(opts: SlackBackfillOptions) {
    this.#o = opts;
    this.#queue = new PQueue({ concurrency: 1, intervalCap: opts.requestsPerMinute, interval: 60_000 });
  }

  /** Every channel, one after the other; a channel that fails is reported and the others go on. */
  async run(signal: AbortSignal): Promise<void> {
    this.#signal = signal;
    for (const channel of this.#o.channels) {
      signal.throwIfAborted();
      const ref: ChannelRef = { platform: 'slack', workspace: this.#o.workspace, channel };
      try {
        await this.#channel(ref);
      } catch (e) {
        if (signal.aborted) throw e;
        this.#o.report(e, `knowledge: reading the history of Slack channel ${channel}`);
      }
    }
  }

  async #channel(ref: ChannelRef): Promise<void> {
    const { api, index } = this.#o;
    let state = index.channel(ref);
    if (state?.private === undefined) {
      const info = await this.#call(() => api.channelInfo(ref.channel));
      state = index.updateChannel(ref, { private: info.private, ...(info.name ? { name: info.name } : {}) });
    }
    const limit = this.#o.pageSize ?? 200;
    // After the whole history: only what came since the newest message read (live events had the rest).
    const oldest = state.backfilledAt !== undefined ? state.syncedUntil : undefined;
    let cursor = state.backfilledAt !== undefined ? undefined : state.cursor;
    let newest = state.syncedUntil;
    for (;;) {
      const page = await this.#call(() => api.history(ref.channel, { limit, ...(cursor ? { cursor } : {}), ...(oldest ? { oldest } : {}) }));
      const messages: IndexedMessage[] = [];
      for (const raw of page.items) {
        const m = this.#indexable(raw, ref);
        if (m) messages.push(m);
        const ts = typeof raw.ts === 'string' ? raw.ts : undefined;
        if (ts && (newest === undefined || Number(ts) > Number(newest))) newest = ts;
        if (ts && typeof raw.reply_count === 'number' && raw.reply_count > 0) messages.push(...(await this.#thread(ref, ts)));
      }
      await this.#name(messages);
      this.#signal.throwIfAborted();
      const done = page.next === undefined;
      const now = this.#o.now();
      if (oldest !== undefined) {
        // A catch-up is short: its progress is written once it has read everything since `oldest`.
        index.savePage(ref, messages, { lastSyncAt: now, ...(done && newest ? { syncedUntil: newest } : {}) });
      } else {
        index.savePage(ref, messages, {
          cursor: page.next ?? null,
          lastSyncAt: now,
          // The newest message is on the first page; the backfill stays in step with it.
          ...(newest && state.syncedUntil === undefined ? { syncedUntil: newest } : {}),
          ...(done ? { backfilledAt: now } : {}),
        });
      }
      if (done) {
        if (oldest !== undefined && newest !== undefined) await this.#reconcile(ref, newest);
        return;
      }
      cursor = page.next;
    }
  }

  /**
   * Removes the indexed messages of the channel's last {@link RECONCILE_DAYS} days (up to its newest
   * message, `newest`) that the history no longer has. Only what this reading could have seen goes:
   * nothing newer than `newest` (live messages meanwhile), top-level messages of the window, and
   * replies of threads whose replies were read (or whose parent is gone with them).
   */
  async #reconcile(ref: ChannelRef, newest: string): Promise<void> {
    const since = Number(newest) * 1000 - RECONCILE_DAYS * 86_400_000;
    const oldest = (since / 1000).toFixed(6);
    const limit = this.#o.pageSize ?? 200;
    const seen = new Set<string>();
    const threads = new Set<string>();
    let cursor: string | undefined;
    for (;;) {
      const page = await this.#call(() => this.#o.api.history(ref.channel, { limit, oldest, ...(cursor ? { cursor } : {}) }));
      for (const raw of page.items) {
        const ts = typeof raw.ts === 'string' ? raw.ts : undefined;
        if (!ts) continue;
        seen.add(ts);
        if (typeof raw.reply_count === 'number' && raw.reply_count > 0) {
          threads.add(ts);
          for (const reply of await this.#replyIds(ref, ts)) seen.add(reply);
        }
      }
      if (page.next === undefined) break;
      cursor = page.next;
    }
    this.#signal.throwIfAborted();
    const inWindow = (ts: string): boolean => Number(ts) * 1000 >= since;
    for (const m of this.#o.index.messagesSince(ref, since)) {
      if (Number(m.messageId) > Number(newest) || seen.has(m.messageId)) continue;
      const thread = m.threadId;
      if (thread === undefined || threads.has(thread) || (!seen.has(thread) && inWindow(thread))) this.#o.index.remove(ref, m.messageId);
    }
  }

  /** The ids of a thread's messages as Slack has them now. */
  async #replyIds(ref: ChannelRef, ts: string): Promise<string[]> {
    const out: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await this.#call(() => this.#o.api.replies(ref.channel, ts, { limit: this.#o.pageSize ?? 200, ...(cursor ? { cursor } : {}) }));
      for (const raw of page.items) if (typeof raw.ts === 'string') out.push(raw.ts);
      if (page.next === undefined) return out;
      cursor = page.next;
    }
  }

  /** A thread's replies (its parent is indexed from the channel's history). */
  async #thread(ref: ChannelRef, ts: string): Promise<IndexedMessage[]> {
    const out: IndexedMessage[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await this.#call(() => this.#o.api.replies(ref.channel, ts, { limit: this.#o.pageSize ?? 200, ...(cursor ? { cursor } : {}) }));
      for (const raw of page.items) {
        if (raw.ts === ts) continue;
        const m = this.#indexable(raw, ref);
        if (m) out.push(m);
      }
      if (page.next === undefined) return out;
      cursor = page.next;
    }
  }

  #indexable(raw: Record<string, unknown>, ref: ChannelRef): IndexedMessage | undefined {
    return indexableSlackMessage(raw, { workspace: ref.workspace, channel: ref.channel, ...(this.#o.botUserId ? { botUserId: this.#o.botUserId } : {}) });
  }

  async #name(messages: IndexedMessage[]): Promise<void> {
    const names = await this.#o.names([...new Set(messages.map((m) => m.author))], (fn) => this.#call(fn));
    for (const m of messages) {
      const name = names.get(m.author);
      if (name) m.authorName = name;
    }
  }

  /** One Web API call through the rate-limited queue; a 429 is waited out and the call made again. */
  async #call<T>(fn: () => Promise<T>): Promise<T> {
    const signal = this.#signal;
    for (;;) {
      signal.throwIfAborted();
      try {
        return await abortable(this.#queue.add(fn, { throwOnTimeout: true }), signal);
      } catch (e) {
        const wait = rateLimitWaitMs(e);
        if (wait === undefined || signal.aborted) throw e;
        await delay(wait, undefined, { signal });
      }
    }
  }
}

/** `p`, or the signal's reason once it is aborted (the call itself is left to finish on its own). */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
