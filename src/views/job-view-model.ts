/**
 * What a person sees of one command, decided once for every face (Discord, Slack, the console).
 *
 * A command may run as several jobs: /ask with an image queues a caption job (the image's
 * description, a *helper*) before the chat job (the *main* job, the answer). Both share one origin,
 * so they share one view: the helper only adds a status line ("looking at your image first") and, when
 * it ends, the description; its failure never ends the view, because the chat is queued and will be
 * answered with a note that the image could not be read.
 *
 * {@link reduceJobView} is pure: the same events give the same view, so a view can be rebuilt after a
 * restart from the events the engine publishes for recovered jobs. Adapters only render it.
 */
import type { ErrorInfo, JobEvent, JobKind, JobRecord, JobResult, Json } from '../engine/types.js';
import { imageOptionsOf } from '../jobs/image.js';

/** Where the command stands, as a person would say it. */
export type ViewPhase =
  /** Accepted; nothing heard from the engine yet. */
  | 'waiting'
  /** Stored and waiting for the GPU (maybe behind its helper jobs, or while hearth starts). */
  | 'queued'
  | 'running'
  | 'done'
  | 'failed'
  | 'cancelled';

export type JobRole = 'main' | 'helper';

/** A helper job that has not ended: shown as a status line until the main job starts. */
export interface HelperStatus {
  jobId: string;
  kind: JobKind;
  phase: 'queued' | 'running';
  queued?: { position: number; etaSeconds: number; starting?: boolean };
}

/**
 * Where an image starts from, when it is image-to-image: an image the person gave (`image`), or the
 * result of an earlier image job (`variation`, a Vary). `text` is what every face shows of it, decided
 * here once: "Variation of 1a2b3c4d · strength 0.35".
 */
export type ImageSource = ({ from: 'image' } | { from: 'variation'; of: string }) & { strength: number; text: string };

/** The state of one command's view. */
export interface JobViewModel {
  phase: ViewPhase;
  /** The main job (the answer); absent while only helpers have been heard of. */
  jobId?: string;
  kind?: JobKind;
  /** The main job's owner, platform-qualified (`discord:123`). */
  ownerId?: string;
  /** Place in line; `starting` while hearth is still starting and the wait can't be estimated yet. */
  queued?: { position: number; etaSeconds: number; starting?: boolean };
  /** Helper jobs still running or queued (an image being described for the question). */
  helpers: HelperStatus[];
  /** What the helpers produced (image descriptions), in the order they ended. */
  notes: Array<{ jobId: string; text: string; failed?: boolean }>;
  /** An image-to-image job's starting point (absent for text-to-image and other kinds). */
  source?: ImageSource;
  progress?: { step: number; of: number };
  /** Streamed text of the current attempt. */
  text: string;
  preview?: { png: Uint8Array; step: number };
  result?: JobResult;
  error?: ErrorInfo;
  /** Set when the job was cancelled: by whom, and whether that was its owner. */
  stopped?: { by: string; byOwner: boolean };
  /** The answer started over (hearth or its GPU worker restarted while it ran). */
  restarted: boolean;
  /** Text an earlier attempt had streamed before it started over (faces that can't erase it show it as interrupted). */
  interrupted?: string;
  /** Attempts so far (1 on the first run). */
  attempt: number;
}

/** A job as the view needs it: its id, kind, role and owner. */
export interface ViewJob {
  id: string;
  kind: JobKind;
  role: JobRole;
  userId: string;
  /** For an image-to-image job: where it starts from. */
  source?: ImageSource;
}

/** A job's part in its view, from its record: id, kind, role, owner, and an image's starting point. */
export function viewJobOf(record: Pick<JobRecord, 'id' | 'kind' | 'payload' | 'userId'>): ViewJob {
  const job: ViewJob = { id: record.id, kind: record.kind, role: roleOf(record), userId: record.userId };
  const source = imageSourceOf(record);
  if (source) job.source = source;
  return job;
}

/**
 * Where an image job starts from, from its payload (read by the image contract): a strength makes it
 * image-to-image (the init image itself is dropped once the job ends, its strength stays), and
 * `variationOf` names the job whose result it varies.
 */
export function imageSourceOf(record: Pick<JobRecord, 'kind' | 'payload'>): ImageSource | undefined {
  const o = imageOptionsOf(record);
  if (o?.strength === undefined) return undefined;
  const strength = `strength ${Math.round(o.strength * 100) / 100}`;
  if (o.variationOf !== undefined) return { from: 'variation', of: o.variationOf, strength: o.strength, text: `Variation of ${o.variationOf.slice(0, 8)} · ${strength}` };
  return { from: 'image', strength: o.strength, text: `From your image · ${strength}` };
}

export function emptyView(): JobViewModel {
  return { phase: 'waiting', helpers: [], notes: [], text: '', restarted: false, attempt: 0 };
}

const FINAL: ReadonlySet<ViewPhase> = new Set(['done', 'failed', 'cancelled']);

/** True once the view shows its end (the main job or the command itself ended). */
export function isFinal(view: JobViewModel): boolean {
  return FINAL.has(view.phase);
}

/** True for the event that ends a job. */
export function isEndEvent(event: JobEvent): boolean {
  return event.type === 'result' || event.type === 'failed' || event.type === 'cancelled';
}

/**
 * A job's role in its command's view: the description of an image attached to a question is a helper
 * (its caption payload says `forChat`); every other job is the answer itself.
 */
export function roleOf(job: Pick<JobRecord, 'kind' | 'payload'>): JobRole {
  return job.kind === 'caption' && isObject(job.payload) && job.payload.forChat === true ? 'helper' : 'main';
}

/** The command failed before a job was queued (or instead of one): the view ends with the error. */
export function failView(view: JobViewModel, error: ErrorInfo): JobViewModel {
  if (isFinal(view)) return view;
  return { ...view, phase: 'failed', error, helpers: [] };
}

/**
 * The next view after one job's event. Pure: returns a new object (the old one is not changed), or
 * the same object when the event changes nothing (a late event of an ended view).
 */
export function reduceJobView(view: JobViewModel, job: ViewJob, event: JobEvent): JobViewModel {
  if (isFinal(view)) return view;
  return job.role === 'helper' ? reduceHelper(view, job, event) : reduceMain(view, job, event);
}

function reduceHelper(view: JobViewModel, job: ViewJob, event: JobEvent): JobViewModel {
  const others = view.helpers.filter((h) => h.jobId !== job.id);
  const base = { jobId: job.id, kind: job.kind };
  switch (event.type) {
    case 'queued':
      return { ...view, phase: view.phase === 'waiting' ? 'queued' : view.phase, helpers: [...others, { ...base, phase: 'queued', queued: queuedOf(event) }] };
    case 'started':
    case 'progress':
    case 'token':
    case 'preview':
      return { ...view, phase: view.phase === 'waiting' ? 'queued' : view.phase, helpers: [...others, { ...base, phase: 'running' }] };
    case 'result':
      return { ...view, helpers: others, notes: [...view.notes.filter((n) => n.jobId !== job.id), { jobId: job.id, text: event.result.text ?? '' }] };
    case 'failed':
      return { ...view, helpers: others, notes: [...view.notes.filter((n) => n.jobId !== job.id), { jobId: job.id, text: event.error.message, failed: true }] };
    case 'cancelled':
      return { ...view, helpers: others };
  }
}

function reduceMain(view: JobViewModel, job: ViewJob, event: JobEvent): JobViewModel {
  const v: JobViewModel = { ...view, jobId: job.id, kind: job.kind, ownerId: job.userId };
  if (job.source) v.source = job.source;
  switch (event.type) {
    case 'queued': {
      v.phase = 'queued';
      v.queued = queuedOf(event);
      return v;
    }
    case 'started': {
      // A second start is an answer starting over after a restart or a worker crash.
      if (v.attempt > 0 || event.attempt > 1) {
        v.restarted = true;
        if (v.text.trim() !== '') v.interrupted = v.text;
      }
      v.attempt = Math.max(v.attempt + 1, event.attempt);
      v.phase = 'running';
      v.text = '';
      v.helpers = [];
      delete v.queued;
      delete v.progress;
      delete v.preview;
      return v;
    }
    case 'progress':
      v.phase = 'running';
      v.progress = { step: event.step, of: event.of };
      delete v.queued;
      return v;
    case 'token':
      v.phase = 'running';
      v.text = v.text + event.text;
      delete v.queued;
      return v;
    case 'preview':
      v.preview = { png: event.png, step: event.step };
      return v;
    case 'result':
      v.phase = 'done';
      v.result = event.result;
      v.helpers = [];
      delete v.queued;
      delete v.preview;
      if (v.progress) v.progress = { step: v.progress.of, of: v.progress.of };
      return v;
    case 'failed':
      v.phase = 'failed';
      v.error = event.error;
      v.helpers = [];
      delete v.queued;
      delete v.preview;
      return v;
    case 'cancelled':
      v.phase = 'cancelled';
      if (event.partial) v.result = event.partial;
      v.stopped = { by: event.by, byOwner: event.by === job.userId };
      v.helpers = [];
      delete v.queued;
      delete v.preview;
      return v;
  }
}

function queuedOf(event: Extract<JobEvent, { type: 'queued' }>): { position: number; etaSeconds: number; starting?: boolean } {
  const q: { position: number; etaSeconds: number; starting?: boolean } = { position: event.position, etaSeconds: event.etaSeconds };
  if (event.starting === true) q.starting = true;
  return q;
}

function isObject(v: Json | null | undefined): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
