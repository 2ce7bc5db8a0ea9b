import type { ErrorInfo } from '../../engine/types.js';
import type { Logger } from '../../util/log.js';
import { JobViews, type ViewFeed } from '../../views/job-views.js';
import { JobView, type JobViewDeps } from './job-view.js';
import { parseOrigin, type SlackOrigin } from './origin.js';
import { slackErrorCode } from './slack-api.js';

/** Remembers the workspaces where chat.startStream is not available, so answers go by chat.update there. */
export class StreamingSupport {
  readonly #off = new Set<string>();
  readonly #log: Logger;

  constructor(log: Logger, enabled = true) {
    this.#log = log;
    if (!enabled) this.#off.add('*');
  }

  usable(team: string): boolean {
    return !this.#off.has('*') && !this.#off.has(team);
  }

  unavailable(team: string, code: string): void {
    if (this.#off.has(team)) return;
    this.#off.add(team);
    this.#log.info({ team, code }, 'Slack streaming (chat.startStream) is not available here; answers are edited in instead');
  }
}

/** The view a Slack job shows in: jobs that share a status message (a question and its images) share one. */
function keyOf(o: SlackOrigin): string {
  return `${o.team}:${o.channel}:${o.status ?? `${o.thread ?? ''}:${o.user}`}`;
}

/**
 * Slack's side of the shared job views (src/views): each command's view, found by its origin (also for
 * jobs recovered after a restart), is shown by one {@link JobView}, dropped once its end is shown.
 */
export class SlackRenderer {
  readonly #deps: JobViewDeps;
  readonly #shared: JobViews<SlackOrigin>;
  readonly #views = new Map<string, JobView>();
  readonly #searchReported = new Set<string>();

  constructor(feed: ViewFeed, deps: JobViewDeps) {
    // A message another command's view owns is never taken for one a crash left behind.
    this.#deps = {
      ...deps,
      owned: (channel, ts) => [...this.#views.values()].some((v) => v.owns(channel, ts)),
      searchFailed: (channel, e) => this.#searchFailed(channel, e),
    };
    this.#shared = new JobViews<SlackOrigin>({
      feed,
      parseOrigin: (o) => parseOrigin(o) ?? null,
      keyOf,
      report: deps.report,
      onChange: (change) => this.#view(change.key, change.origin).show(change),
    });
  }

  start(): void {
    this.#shared.start();
  }

  /**
   * A conversation could not be read for a left-behind message (most often `missing_scope`: the app
   * lacks channels:history, groups:history or, in a direct message, im:history). Said once per
   * channel and error, as on Discord; the answers go on.
   */
  #searchFailed(channel: string, e: unknown): void {
    const code = slackErrorCode(e) ?? 'other';
    const key = `${channel}:${code}`;
    if (this.#searchReported.has(key)) return;
    this.#searchReported.add(key);
    // A direct message (D…) is read with im:history; a channel with channels:history or groups:history.
    const scopes = channel.startsWith('D') ? 'im:history' : 'channels:history and groups:history';
    const hint =
      code === 'missing_scope'
        ? ` (add ${scopes} to the app: \`hearth slack-manifest\` lists them)`
        : code === 'not_in_channel'
          ? ' (the app posts there without being a member: invite it with /invite so it can read the channel)'
          : '';
    this.#deps.report(e, `slack: looking in ${channel} for a message a killed run left behind${hint}`);
  }

  /** Commands being shown right now. */
  get size(): number {
    return this.#views.size;
  }

  /** A command failed after its status message was posted: the message says so. */
  fail(origin: SlackOrigin, error: ErrorInfo): void {
    this.#shared.fail(origin, error);
  }

  /** A command was refused after its status message was posted: nothing more is shown for it. */
  async drop(origin: SlackOrigin): Promise<void> {
    this.#shared.drop(origin);
    const key = keyOf(origin);
    const view = this.#views.get(key);
    this.#views.delete(key);
    await view?.dispose();
  }

  #view(key: string, origin: SlackOrigin): JobView {
    let view = this.#views.get(key);
    if (!view) {
      const created = new JobView(origin, this.#deps);
      view = created;
      this.#views.set(key, created);
      void created.finished.then(() => {
        if (this.#views.get(key) === created) this.#views.delete(key);
      });
    }
    return view;
  }

  /** Stops listening and waits (a few seconds at most) for Slack calls in flight. */
  async close(): Promise<void> {
    this.#shared.stop();
    const views = [...this.#views.values()];
    this.#views.clear();
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => (timer = setTimeout(resolve, 5000)));
    // A command that has ended gets its end shown; the others resume after a restart, from their origin.
    const shown = Promise.allSettled(views.map(async (v) => (v.ending ? v.finished : undefined)));
    await Promise.race([shown, limit]);
    await Promise.race([Promise.allSettled(views.map((v) => v.dispose())), limit]);
    clearTimeout(timer);
  }
}
