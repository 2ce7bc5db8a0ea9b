import type { Engine } from '../../engine/engine.js';
import { HearthError, type EngineEvent, type ErrorInfo, type JobKind, type Json } from '../../engine/types.js';
import { JobView, type ViewDeps } from './job-view.js';
import { isObject, originKey, parseOrigin, type DiscordOrigin, type PostedMessage } from './origin.js';

interface Known {
  view: JobView;
  kind: JobKind;
  payload: Json;
}

/** Remembers a bounded number of keys (ended jobs), forgetting the oldest first. */
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

/**
 * Routes the engine's job events to the view of each job's origin. Views are found by origin, not by
 * job, so the helper jobs of one command (an /ask's image description) show in the same reply; and
 * they are built from the stored origin, so jobs recovered after a restart are still answered.
 */
export class ViewRegistry {
  readonly #engine: Engine;
  readonly #deps: ViewDeps;
  readonly #views = new Map<string, JobView>();
  readonly #jobs = new Map<string, Known>();
  readonly #endedJobs = new RecentSet(10_000);
  readonly #notOurs = new RecentSet(10_000);
  /** Views that have their final content and are still sending it. */
  readonly #finishing = new Set<Promise<void>>();

  constructor(engine: Engine, deps: ViewDeps) {
    this.#engine = engine;
    this.#deps = { ...deps, record: deps.record ?? ((jobIds, posted) => this.#record(jobIds, posted)) };
  }

  /** Live views (replies still being updated). */
  get size(): number {
    return this.#views.size;
  }

  onEngineEvent(e: EngineEvent): void {
    if (this.#endedJobs.has(e.jobId) || this.#notOurs.has(e.jobId)) return;
    let known = this.#jobs.get(e.jobId);
    if (!known) {
      const job = this.#engine.getJob(e.jobId);
      const origin = job ? parseOrigin(job.origin) : null;
      if (!job || !origin) {
        this.#notOurs.add(e.jobId);
        return;
      }
      known = { view: this.forOrigin(origin), kind: job.kind, payload: job.payload };
      this.#jobs.set(e.jobId, known);
      // A job recovered after a restart starts over: what the last run posted for it goes first.
      if (origin.followups && origin.followups.length > 0) known.view.removeEarlier(origin.followups);
    }
    const { view } = known;
    view.onJobEvent({ id: e.jobId, kind: known.kind, payload: known.payload }, e.event);
    const t = e.event.type;
    if (t === 'result' || t === 'failed' || t === 'cancelled') {
      this.#jobs.delete(e.jobId);
      this.#endedJobs.add(e.jobId);
    }
    if (view.ended) this.#release(view);
  }

  /** A command failed before its job was queued (or instead of it). */
  fail(origin: DiscordOrigin, error: ErrorInfo): void {
    const view = this.forOrigin(origin);
    view.fail(error);
    this.#release(view);
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

  /** Waits for every view's pending edits (at most `timeoutMs`), then stops them. */
  async close(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.all([
      ...[...this.#views.values()].map((v) => v.close(timeoutMs)),
      Promise.race([Promise.all(this.#finishing), deadline]),
    ]);
    clearTimeout(timer);
    this.#views.clear();
    this.#jobs.clear();
  }

  /** Keeps the other fields of each job's origin and replaces its list of posted messages. */
  #record(jobIds: readonly string[], posted: readonly PostedMessage[]): void {
    const followups = posted.map((p): Json => ({ via: p.via, channelId: p.channelId, id: p.id }));
    for (const id of jobIds) {
      const origin = this.#engine.getJob(id)?.origin;
      if (!isObject(origin)) continue;
      const r = this.#engine.updateOrigin(id, { ...origin, followups });
      // A job that ended meanwhile is never started over: there is nothing to keep for it.
      if (!r.ok && r.error.code !== 'NOT_FOUND') this.#deps.report(new HearthError(r.error.code, r.error.message, r.error.facts ?? {}), 'discord: recording a reply');
    }
  }

  #release(view: JobView): void {
    const key = originKey(view.origin);
    if (this.#views.get(key) !== view) return;
    this.#views.delete(key);
    const done = view.done.finally(() => this.#finishing.delete(done));
    this.#finishing.add(done);
  }
}
