import type { EngineEvent, ErrorInfo, JobEvent, JobRecord, Json, Result } from '../engine/types.js';
import { emptyView, failView, isEndEvent, isFinal, reduceJobView, viewJobOf, type JobViewModel, type ViewJob } from './job-view-model.js';

/** What the views need of the engine: events and the jobs they are about. Never polled. */
export interface ViewFeed {
  subscribe(listener: (e: EngineEvent) => void): () => void;
  getJob(jobId: string): JobRecord | undefined;
  /** Confirms that an ended job's end reached its owner (see JobFeed.markDelivered). */
  markDelivered?(jobId: string): Result<unknown>;
}

/** One change of one view, handed to the adapter to render. */
export interface ViewChange<O> {
  key: string;
  /** The origin of the view (the first job's, or the one a command failed with). */
  origin: O;
  view: JobViewModel;
  /** The view before this change (the first change of a view has the empty view). */
  previous: JobViewModel;
  /** The job and event that caused it; absent when the command itself failed. */
  job?: JobRecord;
  event?: JobEvent;
  /**
   * Only on the change that makes the view final: the adapter calls it once that final content has
   * reached the person (its message was sent, or the platform refused it for good). It records every
   * ended job of the view as delivered; a view whose end was not confirmed is shown again after a
   * restart. Calling it more than once changes nothing.
   */
  delivered?: () => void;
}

export interface JobViewsOptions<O> {
  feed: ViewFeed;
  /** The adapter's origin of a job, or null for a job of another platform. */
  parseOrigin(origin: Json | null): O | null;
  /** Jobs with the same key share one view: a command's helper jobs show in its answer. */
  keyOf(origin: O): string;
  /** Renders a change. Called synchronously, in event order; throwing goes to `report`. */
  onChange(change: ViewChange<O>): void;
  report(error: unknown, where: string): void;
}

/** Remembers a bounded number of keys, forgetting the oldest first. */
class RecentSet {
  readonly #items = new Set<string>();
  constructor(readonly limit: number) {}
  add(k: string): void {
    this.#items.add(k);
    if (this.#items.size > this.limit) {
      const oldest = this.#items.values().next().value;
      if (oldest !== undefined) this.#items.delete(oldest);
    }
  }
  has(k: string): boolean {
    return this.#items.has(k);
  }
}

interface Entry<O> {
  origin: O;
  view: JobViewModel;
}

/**
 * The one place that turns the engine's job events into what people see: finds each job's view by its
 * origin (so helper jobs fold into the job they serve, and jobs recovered after a restart find their
 * answer), reduces the event into it, and hands the change to the adapter. A view is dropped once it
 * is final; late events of its jobs are ignored.
 */
export class JobViews<O> {
  readonly #opts: JobViewsOptions<O>;
  readonly #views = new Map<string, Entry<O>>();
  readonly #jobs = new Map<string, { key: string; job: ViewJob; record: JobRecord }>();
  /** Every job a live view has shown, ended ones too, in the order they were first heard of. */
  readonly #members = new Map<string, Set<string>>();
  readonly #done = new RecentSet(10_000);
  readonly #notOurs = new RecentSet(10_000);
  #off: (() => void) | undefined;

  constructor(opts: JobViewsOptions<O>) {
    this.#opts = opts;
  }

  /** Starts listening (before the engine recovers jobs, so their owners hear of them). */
  start(): void {
    this.#off ??= this.#opts.feed.subscribe((e) => this.#onEvent(e));
  }

  /** Stops listening; views in memory are forgotten (their jobs resume from their origins after a restart). */
  stop(): void {
    this.#off?.();
    this.#off = undefined;
    this.#views.clear();
    this.#jobs.clear();
    this.#members.clear();
  }

  /** Views not final yet. */
  get size(): number {
    return this.#views.size;
  }

  /** The current view of a key, if it is live. */
  get(key: string): JobViewModel | undefined {
    return this.#views.get(key)?.view;
  }

  /** A command failed before its job was queued (or after its helpers were): its view ends with the error. */
  fail(origin: O, error: ErrorInfo): void {
    const key = this.#opts.keyOf(origin);
    const entry = this.#views.get(key) ?? { origin, view: emptyView() };
    const previous = entry.view;
    const view = failView(previous, error);
    if (view === previous) return;
    this.#views.set(key, { origin: entry.origin, view });
    this.#emit({ key, origin: entry.origin, view, previous, delivered: this.#confirmer(key) });
    this.#release(key);
  }

  /**
   * Forgets a command's view without showing anything more (the adapter has taken its messages away).
   * Its ended jobs count as delivered: there is nothing of them left to show, after a restart either.
   */
  drop(origin: O): void {
    const key = this.#opts.keyOf(origin);
    this.#confirmer(key)();
    this.#release(key);
  }

  #onEvent(e: EngineEvent): void {
    if (this.#done.has(e.jobId) || this.#notOurs.has(e.jobId)) return;
    let known = this.#jobs.get(e.jobId);
    if (!known) {
      const record = this.#opts.feed.getJob(e.jobId);
      const origin = record ? this.#opts.parseOrigin(record.origin) : null;
      if (!record || origin === null) {
        this.#notOurs.add(e.jobId);
        return;
      }
      const key = this.#opts.keyOf(origin);
      known = { key, record, job: viewJobOf(record) };
      this.#jobs.set(e.jobId, known);
      if (!this.#views.has(key)) this.#views.set(key, { origin, view: emptyView() });
      let members = this.#members.get(key);
      if (!members) this.#members.set(key, (members = new Set()));
      members.add(e.jobId);
    }
    if (isEndEvent(e.event)) {
      this.#jobs.delete(e.jobId);
      this.#done.add(e.jobId);
    }
    const entry = this.#views.get(known.key);
    if (!entry) return; // the view ended (its command failed) before this job's events
    const previous = entry.view;
    const view = reduceJobView(previous, known.job, e.event);
    if (view === previous) return;
    entry.view = view;
    // The record may have changed (origin updated, payload amended): read it again at the end.
    const record = isEndEvent(e.event) ? (this.#opts.feed.getJob(e.jobId) ?? known.record) : known.record;
    const change: ViewChange<O> = { key: known.key, origin: entry.origin, view, previous, job: record, event: e.event };
    if (isFinal(view)) change.delivered = this.#confirmer(known.key);
    this.#emit(change);
    if (isFinal(view)) this.#release(known.key);
  }

  #emit(change: ViewChange<O>): void {
    try {
      this.#opts.onChange(change);
    } catch (error) {
      this.#opts.report(error, `showing ${change.job ? `${change.job.kind} job ${change.job.id}` : 'a failed command'}`);
    }
  }

  /** Marks the view's ended jobs delivered, once; helpers before the job they serve. */
  #confirmer(key: string): () => void {
    // A helper still running when its command ended has no end yet: only ended jobs are delivered.
    const ids = [...(this.#members.get(key) ?? [])].filter((id) => !this.#jobs.has(id));
    let called = false;
    return () => {
      if (called) return;
      called = true;
      for (const id of ids) {
        const r = this.#opts.feed.markDelivered?.(id);
        if (r && !r.ok) this.#opts.report(new Error(`${r.error.code}: ${r.error.message}`), `recording job ${id} as delivered`);
      }
    };
  }

  #release(key: string): void {
    this.#views.delete(key);
    this.#members.delete(key);
    // Its other jobs (helpers) end with it; their late events must not open a new view.
    for (const [id, k] of this.#jobs) {
      if (k.key !== key) continue;
      this.#jobs.delete(id);
      this.#done.add(id);
    }
  }
}
