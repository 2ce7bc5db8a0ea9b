import type { Engine } from '../../engine/engine.js';
import type { EngineEvent } from '../../engine/types.js';
import type { Logger } from '../../util/log.js';
import { JobView, type JobViewDeps } from './job-view.js';
import { parseOrigin } from './origin.js';

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

/**
 * Turns the engine's job events into Slack messages: one {@link JobView} per job that has a Slack
 * origin, made on its first event (also for jobs recovered after a restart), dropped once its end is
 * shown.
 */
export class SlackRenderer {
  readonly #engine: Engine;
  readonly #deps: JobViewDeps;
  readonly #views = new Map<string, JobView>();
  #off: (() => void) | undefined;

  constructor(engine: Engine, deps: JobViewDeps) {
    this.#engine = engine;
    this.#deps = deps;
  }

  start(): void {
    this.#off ??= this.#engine.on((e) => this.#onEvent(e));
  }

  /** Jobs being shown right now. */
  get size(): number {
    return this.#views.size;
  }

  #onEvent(e: EngineEvent): void {
    let view = this.#views.get(e.jobId);
    if (!view) {
      const job = this.#engine.getJob(e.jobId);
      const origin = job ? parseOrigin(job.origin) : undefined;
      if (!job || !origin) return;
      const created = new JobView(job, origin, this.#deps);
      view = created;
      this.#views.set(e.jobId, created);
      void created.finished.then(() => {
        if (this.#views.get(created.jobId) === created) this.#views.delete(created.jobId);
      });
    }
    view.apply(e.event);
  }

  /** Stops listening and waits (a few seconds at most) for Slack calls in flight. */
  async close(): Promise<void> {
    this.#off?.();
    this.#off = undefined;
    const views = [...this.#views.values()];
    this.#views.clear();
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => (timer = setTimeout(resolve, 5000)));
    // A job that has ended gets its end shown; the others resume after a restart, from their origin.
    const shown = Promise.allSettled(views.map(async (v) => (v.ending ? v.finished : undefined)));
    await Promise.race([shown, limit]);
    await Promise.race([Promise.allSettled(views.map((v) => v.dispose())), limit]);
    clearTimeout(timer);
  }
}
