import type { HearthCommands, StatusView } from '../../commands/hearth-commands.js';
import type { Invocation } from '../../commands/invocation.js';
import type { Clock } from '../../engine/clock.js';
import type { ErrorCode, JobKind, JobRecord, JobState } from '../../engine/types.js';
import type { SseHub } from './sse.js';

/** An ended job of any platform, as the dashboard lists it (no payload, no result bytes). */
export interface RecentJob {
  jobId: string;
  userId: string;
  kind: JobKind;
  state: JobState;
  error?: ErrorCode;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  usedSeconds: number;
}

/** What the dashboard shows: the engine's status (queue, running steps, models, VRAM, usage by hour) and recent jobs. */
export interface DashboardView extends StatusView {
  now: number;
  recent: RecentJob[];
}

export const DASHBOARD = 'dashboard';

/** Fewest milliseconds between two pushes: a burst of events (tokens, steps) becomes one update. */
const MIN_INTERVAL_MS = 400;
/** Ended jobs listed; and how long a list is reused when no job ended (GPU time is charged a little after the end). */
const RECENT_JOBS = 20;
const RECENT_MAX_AGE_MS = 5000;

/** The console's user is the machine's admin, so the admin views are theirs to see. */
const ADMIN: Invocation = { platform: 'web', userId: 'web:dashboard', admin: true, weight: 1, origin: null };

/**
 * Pushes the dashboard view to every open dashboard when something changed, at most a few times a
 * second and only while a dashboard is open: one view is computed per push, whatever the number of
 * viewers, so a busy GPU does not turn into a storm of status queries.
 */
export class DashboardFeed {
  readonly #commands: HearthCommands;
  readonly #hub: SseHub<string>;
  readonly #clock: Clock;
  readonly #onError: (e: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #last = 0;
  /** The recent jobs come from the store, which holds their results too: read again only when a job ended. */
  #recent: { jobs: RecentJob[]; at: number } | undefined;

  constructor(opts: { commands: HearthCommands; hub: SseHub<string>; clock: Clock; onError: (e: unknown) => void }) {
    this.#commands = opts.commands;
    this.#hub = opts.hub;
    this.#clock = opts.clock;
    this.#onError = opts.onError;
  }

  /** The view now. */
  view(): DashboardView {
    const status = this.#commands.status(ADMIN);
    if (!status.ok) throw new Error(`the status was refused: ${status.error.message}`);
    const now = this.#clock.now();
    if (!this.#recent || now - this.#recent.at > RECENT_MAX_AGE_MS) {
      // Newest ended first (the store lists newest created first).
      const jobs = this.#commands.recentJobs(ADMIN, RECENT_JOBS).map(recentJob);
      jobs.sort((a, b) => (b.finishedAt ?? 0) - (a.finishedAt ?? 0));
      this.#recent = { jobs, at: now };
    }
    return { ...status.value, now, recent: this.#recent.jobs };
  }

  /** Something changed (`ended`: a job ended, so the recent jobs are read again): schedule a push, coalesced with others close in time. */
  changed(ended = false): void {
    if (ended) this.#recent = undefined;
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

function recentJob(r: JobRecord): RecentJob {
  const entry: RecentJob = {
    jobId: r.id,
    userId: r.userId,
    kind: r.kind,
    state: r.state,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    usedSeconds: r.usedSeconds,
  };
  if (r.error) entry.error = r.error.code;
  return entry;
}
