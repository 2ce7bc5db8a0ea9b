import type { HearthCommands, StatusView } from '../../commands/hearth-commands.js';
import type { Clock } from '../../engine/clock.js';
import type { JobTracker, RecentJob } from './job-tracker.js';
import type { SseHub } from './sse.js';

/** What the dashboard shows: the engine's status (queue, running steps, models, VRAM, usage) and recent jobs. */
export interface DashboardView extends StatusView {
  now: number;
  recent: RecentJob[];
}

export const DASHBOARD = 'dashboard';

/** Fewest milliseconds between two pushes: a burst of events (tokens, steps) becomes one update. */
const MIN_INTERVAL_MS = 400;

/**
 * Pushes the dashboard view to every open dashboard when something changed, at most a few times a
 * second and only while a dashboard is open: one view is computed per push, whatever the number of
 * viewers, so a busy GPU does not turn into a storm of status queries.
 */
export class DashboardFeed {
  readonly #commands: HearthCommands;
  readonly #tracker: JobTracker;
  readonly #hub: SseHub<string>;
  readonly #clock: Clock;
  readonly #onError: (e: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #last = 0;

  constructor(opts: { commands: HearthCommands; tracker: JobTracker; hub: SseHub<string>; clock: Clock; onError: (e: unknown) => void }) {
    this.#commands = opts.commands;
    this.#tracker = opts.tracker;
    this.#hub = opts.hub;
    this.#clock = opts.clock;
    this.#onError = opts.onError;
  }

  /** The view now. The console's user is the machine's admin, so the admin status is theirs to see. */
  view(): DashboardView {
    const status = this.#commands.status({ platform: 'web', userId: 'web:dashboard', admin: true, weight: 1, origin: null });
    if (!status.ok) throw new Error(`the status was refused: ${status.error.message}`);
    return { ...status.value, now: this.#clock.now(), recent: this.#tracker.recent() };
  }

  /** Something changed: schedule a push (coalesced with others close in time). */
  changed(): void {
    if (this.#timer || !this.#hub.has(DASHBOARD)) return;
    const wait = Math.max(0, this.#last + MIN_INTERVAL_MS - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#last = Date.now();
      try {
        this.#hub.send(DASHBOARD, { type: 'status', view: this.view() });
      } catch (e) {
        this.#onError(e);
      }
    }, wait);
    this.#timer.unref();
  }

  dispose(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
