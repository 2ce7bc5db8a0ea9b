import { DiscordAPIError, RESTJSONErrorCodes } from 'discord.js';
import type { ErrorInfo, Json, Result } from '../../engine/types.js';
import { JobViews, type ViewFeed } from '../../views/job-views.js';
import { discordFailure } from './errors.js';
import { JobView, type ViewDeps } from './job-view.js';
import { isObject, originKey, parseOrigin, type DiscordOrigin, type PostedMessage, type PostingIntent } from './origin.js';

/** What the registry needs of the engine: the shared view feed, and a way to record what it posted. */
export interface RegistryFeed extends ViewFeed {
  updateOrigin(jobId: string, origin: Json): Result<unknown>;
}

/**
 * Discord's side of the shared job views (src/views): each command's view (found by origin, so an
 * /ask's image description shows in the same reply, and jobs recovered after a restart are answered)
 * is rendered into one {@link JobView}'s messages.
 */
export class ViewRegistry {
  readonly #feed: RegistryFeed;
  readonly #deps: ViewDeps;
  readonly #shared: JobViews<DiscordOrigin>;
  readonly #views = new Map<string, JobView>();
  /** Views that have their final content and are still sending it. */
  readonly #finishing = new Set<Promise<void>>();
  /** The views behind {@link #finishing}: their messages are still owned. */
  readonly #ending = new Set<JobView>();
  /** Channels whose reading failed (and how): each is reported once. */
  readonly #searchReported = new Set<string>();

  constructor(feed: RegistryFeed, deps: ViewDeps) {
    this.#feed = feed;
    this.#deps = {
      ...deps,
      record: deps.record ?? ((jobIds, posted, posting) => this.#record(jobIds, posted, posting)),
      owned: (channelId, id) => [...this.#views.values(), ...this.#ending].some((v) => v.owns(channelId, id)) || (deps.owned?.(channelId, id) ?? false),
      startedAt: deps.startedAt ?? deps.now(),
      searchFailed: deps.searchFailed ?? ((channelId, e) => this.#searchFailed(channelId, e)),
    };
    this.#shared = new JobViews<DiscordOrigin>({
      feed,
      parseOrigin: (o) => parseOrigin(o),
      keyOf: originKey,
      report: deps.report,
      onChange: (change) => {
        const fresh = !this.#views.has(change.key);
        const view = this.forOrigin(change.origin);
        // A job recovered after a restart starts over: what the last run posted for it goes first.
        if (fresh && change.job) {
          const earlier = parseOrigin(change.job.origin);
          // Killed while asking Discord for a message: the message it made is looked for first.
          if (earlier?.posting) view.lookForLeftBehind(earlier.posting);
          const posted = earlier?.followups;
          if (posted && posted.length > 0) view.removeEarlier(posted);
        }
        view.show(change);
        if (view.ended) this.#release(view);
      },
    });
  }

  /** Starts following the engine's events (before the engine recovers jobs). */
  start(): void {
    this.#shared.start();
  }

  /** Live views (replies still being updated). */
  get size(): number {
    return this.#views.size;
  }

  /** A command failed before its job was queued (or instead of it). */
  fail(origin: DiscordOrigin, error: ErrorInfo): void {
    this.#shared.fail(origin, error);
  }

  forOrigin(origin: DiscordOrigin): JobView {
    const key = originKey(origin);
    let view = this.#views.get(key);
    if (!view) {
      view = new JobView(origin, this.#deps);
      this.#views.set(key, view);
    }
    return view;
  }

  /** Stops following events, waits for every view's pending edits (at most `timeoutMs`), then stops them. */
  async close(timeoutMs: number): Promise<void> {
    this.#shared.stop();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.all([
      ...[...this.#views.values()].map((v) => v.close(timeoutMs)),
      Promise.race([Promise.all(this.#finishing), deadline]),
    ]);
    clearTimeout(timer);
    this.#views.clear();
    this.#ending.clear();
  }

  /** Keeps the other fields of each job's origin and replaces its list of posted messages and its intent to post. */
  #record(jobIds: readonly string[], posted: readonly PostedMessage[], posting?: PostingIntent): void {
    const followups = posted.map((p) => ({ via: p.via, channelId: p.channelId, id: p.id }));
    const intent = posting ? { posting: { via: posting.via, channelId: posting.channelId, after: posting.after } } : {};
    for (const id of jobIds) {
      const origin = this.#feed.getJob(id)?.origin;
      if (!isObject(origin)) continue;
      const { posting: _was, ...kept } = origin;
      const r = this.#feed.updateOrigin(id, { ...kept, followups, ...intent });
      // ALREADY_ENDED: its end was delivered meanwhile and is never shown again, so nothing is kept for it.
      if (!r.ok && r.error.code !== 'ALREADY_ENDED' && r.error.code !== 'NOT_FOUND') this.#deps.report(new Error(`${r.error.code}: ${r.error.message}`), 'discord: recording a reply');
    }
  }

  #release(view: JobView): void {
    const key = originKey(view.origin);
    if (this.#views.get(key) !== view) return;
    this.#views.delete(key);
    this.#ending.add(view);
    const done = view.done.finally(() => {
      this.#finishing.delete(done);
      this.#ending.delete(view);
    });
    this.#finishing.add(done);
  }

  /**
   * A channel could not be read for a left-behind message (most often Missing Access: the bot lacks
   * View Channel or Read Message History there). Said once per channel and error; the answers go on.
   */
  #searchFailed(channelId: string, e: unknown): void {
    const code = e instanceof DiscordAPIError ? String(e.code) : 'other';
    const key = `${channelId}:${code}`;
    if (this.#searchReported.has(key)) return;
    this.#searchReported.add(key);
    const hint = e instanceof DiscordAPIError && (e.code === RESTJSONErrorCodes.MissingAccess || e.status === 403) ? ' (give the bot View Channel and Read Message History there)' : '';
    this.#deps.report(discordFailure(e, `looking in channel ${channelId} for a reply a killed run left behind${hint}`), 'discord: finding a left-behind reply');
  }
}
