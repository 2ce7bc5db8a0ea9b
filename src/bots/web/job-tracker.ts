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

interface Tracked {
  view: JobView;
  session: string;
  preview?: Uint8Array;
}

export interface TrackerHooks {
  /** Sends a change to the browsers of a session. */
  send(session: string, message: SessionMessage): void;
}

const HISTORY_PER_SESSION = 30;
const MAX_SESSIONS = 500;

/**
 * Follows the engine's events: keeps the state of console jobs (so a reloaded page, or one that
 * reconnects after a restart, sees its jobs as they are) and sends each change to the job's session.
 */
export class JobTracker {
  readonly #engine: Engine;
  readonly #hooks: TrackerHooks;
  readonly #since: number;
  readonly #active = new Map<string, Tracked>();
  readonly #history = new Map<string, JobView[]>();

  /** `since`: when this process began taking console requests (jobs created before it were recovered from the store). */
  constructor(engine: Engine, hooks: TrackerHooks, since: number) {
    this.#engine = engine;
    this.#hooks = hooks;
    this.#since = since;
  }

  onEvent(e: EngineEvent): void {
    const ev = e.event;
    const final = ev.type === 'result' || ev.type === 'failed' || ev.type === 'cancelled';
    const record = final || !this.#active.has(e.jobId) ? this.#engine.getJob(e.jobId) : undefined;
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
        // The question waited for this description in the process that queued it; after a restart
        // nothing waits any more, so the user is told rather than left with "asking…".
        if (v.then === 'ask' && record && record.createdAt < this.#since) {
          v.state = 'failed';
          v.error = { code: 'SHUTTING_DOWN', message: 'hearth restarted before your question about the image was asked. Attach the image and ask again.' };
        }
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
  }

  /**
   * A chat message with an image could not be queued after its image was described (e.g. the
   * queue was full by then): the card's description job carries the reason, so a reloaded page
   * says it too instead of "asking…".
   */
  askFailed(session: string, ref: string, error: { code: ErrorCode; message: string }): void {
    const view = this.#history.get(session)?.find((v) => v.ref === ref && v.then === 'ask' && v.state === 'done');
    if (!view) return;
    view.state = 'failed';
    view.error = error;
    this.#hooks.send(session, { type: 'update', job: { ...view } });
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

  #adopt(record: JobRecord): Tracked | undefined {
    const origin = parseOrigin(record.origin);
    if (!origin) return undefined;
    const t: Tracked = { session: origin.session, view: initialView(record, origin) };
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
  // The chat question shares the description's origin (same card); only the description waits for it.
  if (origin.then && record.kind === 'caption') view.then = origin.then;
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
