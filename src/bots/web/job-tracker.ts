import { errorText, waitText } from '../../commands/wording.js';
import type { ErrorCode, ErrorInfo, JobKind, JobRecord, Json } from '../../engine/types.js';
import type { JobViewModel } from '../../views/job-view-model.js';
import { JobViews, type ViewChange, type ViewFeed } from '../../views/job-views.js';
import { isLinkable, sourceEntries, sourcesOf } from '../../views/sources.js';
import { parseOrigin, type WebOrigin } from './origin.js';

/**
 * A console card as the page shows it: one per message the user sent (its `ref`), whatever jobs it
 * takes (a question with an image is the image's description, then the answer). Sent whole on every
 * change but a streamed token.
 */
export interface JobView {
  ref: string;
  /** The job the card is about now: the answer once it is queued, an image's description before. */
  jobId: string;
  /** What the card answers: `chat` for a question, also while its image is being described. */
  kind: JobKind;
  state: 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
  prompt: string;
  /** The status line, in words ('' when the text says it all). */
  status: string;
  position?: number;
  etaSeconds?: number;
  step?: number;
  of?: number;
  text: string;
  /** What the captioner saw in the image attached to a question. */
  note?: string;
  previewUrl?: string;
  image?: { url: string; width: number; height: number };
  seed?: number;
  /** Where an image-to-image card starts from, in the shared view's words ("Variation of 1a2b3c4d · strength 0.35"). */
  source?: string;
  /**
   * Only for a finished answer that used indexed workspace messages: numbered labels and links to
   * them (Slack permalinks, Discord message links), in the order the model was given them; a source
   * whose link is not http(s) has no `url` and is shown as its label alone.
   */
  sources?: Array<{ label: string; url?: string }>;
  /** Only for a failed card: what went wrong. */
  error?: { code: ErrorCode; message: string };
  /** Only for a cancelled card: whether its owner stopped it. */
  stopped?: { byOwner: boolean };
  createdAt: number;
  finishedAt?: number;
}

/** What the browser of one session is sent. */
export type SessionMessage = { type: 'token'; jobId: string; ref: string; text: string } | { type: 'update'; job: JobView };

export interface TrackerHooks {
  /** Sends a change to the browsers of a session. */
  send(session: string, message: SessionMessage): void;
  report(error: unknown, where: string): void;
}

interface Card {
  session: string;
  origin: WebOrigin;
  view: JobView;
  preview?: Uint8Array;
  /** The main job's record (for its image options). */
  job?: JobRecord;
}

const HISTORY_PER_SESSION = 30;
const MAX_SESSIONS = 500;

/**
 * The console's side of the shared job views (src/views): keeps each card's state (so a reloaded page,
 * or one that reconnects after a restart, sees its cards as they are) and sends each change to the
 * card's session.
 */
export class JobTracker {
  readonly #hooks: TrackerHooks;
  readonly #shared: JobViews<WebOrigin>;
  readonly #active = new Map<string, Card>();
  readonly #history = new Map<string, JobView[]>();

  constructor(feed: ViewFeed, hooks: TrackerHooks) {
    this.#hooks = hooks;
    this.#shared = new JobViews<WebOrigin>({
      feed,
      parseOrigin: (o) => parseOrigin(o) ?? null,
      keyOf: cardKey,
      report: hooks.report,
      onChange: (change) => this.#onChange(change),
    });
  }

  start(): void {
    this.#shared.start();
  }

  stop(): void {
    this.#shared.stop();
  }

  /** A command of this card was refused after part of it was queued (a question whose image was being described). */
  fail(origin: WebOrigin, error: ErrorInfo): void {
    this.#shared.fail(origin, error);
  }

  /** The session's cards, finished then active, oldest first: what a page shows when it (re)connects. */
  jobsOf(session: string): JobView[] {
    const active = [...this.#active.values()].filter((c) => c.session === session).map((c) => ({ ...c.view }));
    return [...(this.#history.get(session) ?? []), ...active].sort((a, b) => a.createdAt - b.createdAt);
  }

  /** The latest preview of a running job of this session. */
  preview(jobId: string, session: string): Uint8Array | undefined {
    for (const c of this.#active.values()) if (c.session === session && c.view.jobId === jobId) return c.preview;
    return undefined;
  }

  #onChange(change: ViewChange<WebOrigin>): void {
    const key = cardKey(change.origin);
    let card = this.#active.get(key);
    if (!card) {
      card = { session: change.origin.session, origin: change.origin, view: emptyCard(change.origin, change.job) };
      this.#active.set(key, card);
    }
    if (change.job && change.job.id === change.view.jobId) card.job = change.job;
    const event = change.event;
    if (event?.type === 'preview' && change.job?.id === change.view.jobId) card.preview = event.png;
    const view = cardView(card, change.view);
    card.view = view;
    // A token is small and frequent: only the token goes, the page appends it.
    if (event?.type === 'token' && change.previous.phase === 'running' && change.job?.id === view.jobId) {
      this.#hooks.send(card.session, { type: 'token', jobId: view.jobId, ref: view.ref, text: event.text });
      return;
    }
    if (view.state === 'done' || view.state === 'failed' || view.state === 'cancelled') {
      this.#finish(key, card, change.job);
      // A card in its session's history is delivered: the page shows it whenever it (re)connects.
      change.delivered?.();
    }
    this.#hooks.send(card.session, { type: 'update', job: { ...view } });
  }

  #finish(key: string, card: Card, job: JobRecord | undefined): void {
    this.#active.delete(key);
    delete card.preview;
    delete card.view.previewUrl;
    card.view.finishedAt = job?.finishedAt ?? Date.now();
    let list = this.#history.get(card.session);
    if (!list) {
      if (this.#history.size >= MAX_SESSIONS) this.#history.delete(this.#history.keys().next().value!);
      this.#history.set(card.session, (list = []));
    }
    list.push(card.view);
    if (list.length > HISTORY_PER_SESSION) list.splice(0, list.length - HISTORY_PER_SESSION);
  }
}

function cardKey(o: WebOrigin): string {
  return `${o.session}\u0000${o.ref}`;
}

function emptyCard(origin: WebOrigin, job: JobRecord | undefined): JobView {
  const p = payloadOf(job);
  return {
    ref: origin.ref,
    jobId: job?.id ?? '',
    kind: origin.then === 'ask' ? 'chat' : (job?.kind ?? 'chat'),
    state: 'queued',
    prompt: origin.prompt ?? str(p.question) ?? str(p.prompt) ?? '',
    status: '',
    text: '',
    createdAt: job?.createdAt ?? Date.now(),
  };
}

/** The card as the page shows it, from the shared view. */
function cardView(card: Card, v: JobViewModel): JobView {
  const before = card.view;
  const kind = v.kind ?? before.kind;
  const out: JobView = {
    ref: before.ref,
    jobId: v.jobId ?? v.helpers[0]?.jobId ?? before.jobId,
    kind,
    state: v.phase === 'waiting' ? 'queued' : v.phase,
    prompt: before.prompt,
    status: '',
    text: v.result?.text !== undefined && kind !== 'image' ? v.result.text : v.text,
    createdAt: before.createdAt,
  };
  const note = v.notes.map((n) => n.text).join(' ');
  if (note) out.note = note;
  if (v.queued && !v.helpers[0]) {
    out.position = v.queued.position;
    out.etaSeconds = v.queued.etaSeconds;
  }
  if (v.progress) {
    out.step = v.progress.step;
    out.of = v.progress.of;
  }
  const p = payloadOf(card.job);
  if (kind === 'image') {
    if (typeof p.seed === 'number') out.seed = p.seed;
    if (v.source) out.source = v.source.text;
    if (out.of === undefined && typeof p.steps === 'number') {
      out.of = p.steps;
      out.step = 0;
    }
    if (v.preview && v.phase === 'running') out.previewUrl = `/api/jobs/${encodeURIComponent(out.jobId)}/preview.png?step=${v.preview.step}`;
    const img = v.result?.image;
    if (img) out.image = { url: `/api/jobs/${encodeURIComponent(out.jobId)}/image.png`, width: img.width, height: img.height };
  }
  if (kind === 'chat' && v.phase === 'done') {
    const sources = sourceEntries(sourcesOf(card.job));
    if (sources.length > 0) out.sources = sources.map((e) => (isLinkable(e.url) ? e : { label: e.label }));
  }
  if (v.phase === 'failed' && v.error) out.error = { code: v.error.code, message: errorText(v.error) };
  if (v.phase === 'cancelled') out.stopped = { byOwner: v.stopped?.byOwner ?? true };
  out.status = statusLine(out, v);
  return out;
}

/** The status line of a card, the words the console shows above its text. */
function statusLine(c: JobView, v: JobViewModel): string {
  const helper = v.helpers[0];
  switch (c.state) {
    case 'queued':
      if (helper) return helper.phase === 'running' ? 'Looking at the image first…' : `Looking at the image first. ${waitText(helper.queued)}`;
      return waitText(v.queued);
    case 'running':
      if (c.kind === 'image') return (c.source ? `${c.source} — ` : '') + (c.of ? `Drawing — step ${c.step ?? 0} of ${c.of}` : 'Drawing…');
      if (c.kind === 'caption') return 'Looking at the image…';
      return c.text ? '' : 'Thinking…';
    case 'done':
      if (c.kind === 'image') return [c.seed !== undefined ? `seed ${c.seed}` : '', c.source ?? ''].filter(Boolean).join(' · ');
      return '';
    case 'cancelled':
      return c.stopped?.byOwner === false ? 'Cancelled from the dashboard.' : 'Cancelled.';
    case 'failed':
      return c.error?.message ?? 'Sorry, this job failed.';
  }
}

function payloadOf(job: JobRecord | undefined): Record<string, Json> {
  const p = job?.payload;
  return typeof p === 'object' && p !== null && !Array.isArray(p) ? p : {};
}

function str(v: Json | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
