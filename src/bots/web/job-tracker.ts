import { errorText, queuedText } from '../../commands/wording.js';
import type { Engine } from '../../engine/engine.js';
import type { EngineEvent, ErrorCode, JobKind, JobRecord, JobState, Json } from '../../engine/types.js';
import { parseOrigin, type WebOrigin } from './origin.js';

/** A console job as the page shows it (sent whole on every change but a streamed token). */
export interface JobView {
  jobId: string;
  ref: string;
  kind: JobKind;
  state: JobState;
  prompt: string;
  /** A caption made for a chat message: the chat question follows in the same card. */
  then?: 'ask';
  /** The chat job that followed this caption. */
  next?: string;
  position?: number;
  etaSeconds?: number;
  waitText?: string;
  step?: number;
  of?: number;
  text: string;
  previewUrl?: string;
  image?: { url: string; width: number; height: number };
  seed?: number;
  error?: { code: ErrorCode; message: string };
  createdAt: number;
  finishedAt?: number;
}

/** What the browser of one session is sent. */
export type SessionMessage =
  | { type: 'token'; jobId: string; ref: string; text: string }
  | { type: 'update'; job: JobView };

/** A finished job of any platform, for the dashboard's list. */
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

interface Tracked {
  view: JobView;
  session: string;
  origin?: WebOrigin;
  preview?: Uint8Array;
}

export interface TrackerHooks {
  /** Sends a change to the browsers of a session. */
  send(session: string, message: SessionMessage): void;
  /**
   * A caption made for a chat message is done: the chat question is to be asked now, with the
   * image's description. Driven by the job's stored origin, so it happens after a restart too.
   */
  followUp(caption: { jobId: string; origin: WebOrigin; description: string }): void;
}

const HISTORY_PER_SESSION = 30;
const MAX_SESSIONS = 500;
const RECENT = 50;

/**
 * Follows the engine's events: keeps the state of console jobs (so a reloaded page, or one that
 * reconnects after a restart, sees its jobs as they are), sends each change to the job's session, and
 * keeps the last finished jobs of every platform for the dashboard.
 */
export class JobTracker {
  readonly #engine: Engine;
  readonly #hooks: TrackerHooks;
  readonly #active = new Map<string, Tracked>();
  readonly #history = new Map<string, JobView[]>();
  readonly #recent: RecentJob[] = [];

  constructor(engine: Engine, hooks: TrackerHooks) {
    this.#engine = engine;
    this.#hooks = hooks;
  }

  onEvent(e: EngineEvent): void {
    const ev = e.event;
    const final = ev.type === 'result' || ev.type === 'failed' || ev.type === 'cancelled';
    const record = final || !this.#active.has(e.jobId) ? this.#engine.getJob(e.jobId) : undefined;
    if (final && record) this.#remember(record);
    const t = this.#active.get(e.jobId) ?? (record ? this.#adopt(record) : undefined);
    if (!t) return;
    const v = t.view;
    switch (ev.type) {
      case 'queued':
        v.state = 'queued';
        v.position = ev.position;
        v.etaSeconds = ev.etaSeconds;
        v.waitText = queuedText(ev.position, ev.etaSeconds);
        break;
      case 'started':
        v.state = 'running';
        v.text = '';
        delete v.position;
        delete v.etaSeconds;
        delete v.waitText;
        break;
      case 'progress':
        v.state = 'running';
        v.step = ev.step;
        v.of = ev.of;
        break;
      case 'token':
        v.text += ev.text;
        this.#hooks.send(t.session, { type: 'token', jobId: v.jobId, ref: v.ref, text: ev.text });
        return;
      case 'preview':
        t.preview = ev.png;
        v.previewUrl = `/api/jobs/${encodeURIComponent(v.jobId)}/preview.png?step=${ev.step}`;
        break;
      case 'result':
        v.state = 'done';
        if (ev.result.text !== undefined && v.kind !== 'image') v.text = ev.result.text;
        if (ev.result.image) {
          v.image = { url: `/api/jobs/${encodeURIComponent(v.jobId)}/image.png`, width: ev.result.image.width, height: ev.result.image.height };
        }
        if (v.of !== undefined) v.step = v.of;
        break;
      case 'failed':
        v.state = 'failed';
        v.error = { code: ev.error.code, message: errorText(ev.error) };
        break;
      case 'cancelled':
        v.state = 'cancelled';
        if (ev.partial?.text) v.text = ev.partial.text;
        v.error = {
          code: 'NOT_FOUND',
          message: record && ev.by !== record.userId ? 'Cancelled from the dashboard.' : 'Cancelled.',
        };
        break;
    }
    if (final) this.#finish(t, record);
    this.#hooks.send(t.session, { type: 'update', job: { ...v } });
    if (ev.type === 'result' && t.origin?.then === 'ask') {
      this.#hooks.followUp({ jobId: v.jobId, origin: t.origin, description: ev.result.text ?? '' });
    }
  }

  /** A job ended without the engine saying so to this session (e.g. a follow-up that could not be queued). */
  fail(jobId: string, error: { code: ErrorCode; message: string }): void {
    const t = this.#active.get(jobId) ?? this.#findFinished(jobId);
    if (!t) return;
    t.view.state = 'failed';
    t.view.error = error;
    this.#hooks.send(t.session, { type: 'update', job: { ...t.view } });
  }

  /** Links a caption to the chat question that followed it, so both end up in one card. */
  chain(fromJobId: string, toJobId: string): void {
    const t = this.#findFinished(fromJobId);
    if (!t) return;
    t.view.next = toJobId;
    this.#hooks.send(t.session, { type: 'update', job: { ...t.view } });
  }

  /** The session's jobs, finished then active, oldest first: what a page shows when it (re)connects. */
  jobsOf(session: string): JobView[] {
    const active = [...this.#active.values()].filter((t) => t.session === session).map((t) => ({ ...t.view }));
    return [...(this.#history.get(session) ?? []), ...active].sort((a, b) => a.createdAt - b.createdAt);
  }

  /** The latest preview of a running job of this session. */
  preview(jobId: string, session: string): Uint8Array | undefined {
    const t = this.#active.get(jobId);
    return t && t.session === session ? t.preview : undefined;
  }

  /** Finished jobs of every platform, newest first. */
  recent(): RecentJob[] {
    return [...this.#recent].reverse();
  }

  #adopt(record: JobRecord): Tracked | undefined {
    const origin = parseOrigin(record.origin);
    if (!origin) return undefined;
    const t: Tracked = { session: origin.session, origin, view: initialView(record, origin) };
    this.#active.set(record.id, t);
    return t;
  }

  #finish(t: Tracked, record: JobRecord | undefined): void {
    this.#active.delete(t.view.jobId);
    delete t.preview;
    delete t.view.previewUrl;
    delete t.view.waitText;
    t.view.finishedAt = record?.finishedAt ?? Date.now();
    let list = this.#history.get(t.session);
    if (!list) {
      if (this.#history.size >= MAX_SESSIONS) this.#history.delete(this.#history.keys().next().value!);
      this.#history.set(t.session, (list = []));
    }
    list.push(t.view);
    if (list.length > HISTORY_PER_SESSION) list.splice(0, list.length - HISTORY_PER_SESSION);
  }

  #findFinished(jobId: string): Tracked | undefined {
    for (const [session, list] of this.#history) {
      const view = list.find((v) => v.jobId === jobId);
      if (view) return { session, view };
    }
    return undefined;
  }

  #remember(r: JobRecord): void {
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
    this.#recent.push(entry);
    if (this.#recent.length > RECENT) this.#recent.splice(0, this.#recent.length - RECENT);
  }
}

function initialView(record: JobRecord, origin: WebOrigin): JobView {
  const p = (typeof record.payload === 'object' && record.payload !== null && !Array.isArray(record.payload) ? record.payload : {}) as Record<string, Json>;
  const prompt = origin.prompt ?? str(p.question) ?? str(p.prompt) ?? '';
  const view: JobView = {
    jobId: record.id,
    ref: origin.ref,
    kind: record.kind,
    state: record.state,
    prompt,
    text: '',
    createdAt: record.createdAt,
  };
  if (origin.then) view.then = origin.then;
  if (record.kind === 'image') {
    if (typeof p.seed === 'number') view.seed = p.seed;
    if (typeof p.steps === 'number') view.of = p.steps;
    view.step = 0;
  }
  return view;
}

function str(v: Json | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
