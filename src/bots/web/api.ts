import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HearthCommands } from '../../commands/hearth-commands.js';
import type { Invocation } from '../../commands/invocation.js';
import { errorText, etaText } from '../../commands/wording.js';
import type { HearthConfig } from '../../config/schema.js';
import type { AdapterJobs } from '../adapter.js';
import { err, ok, type ErrorInfo, type JobRecord, type Json, type Result } from '../../engine/types.js';
import { parseCaptionOptions } from '../../jobs/caption.js';
import { imageModelSummary } from '../../jobs/image-model.js';
import { imageOptionsFromJson, type ImageOptionsInput } from '../../jobs/image.js';
import { VARIATIONS, variationById } from '../../commands/image-choices.js';
import { isSupportedFormat, sniffImageType } from '../../media/image-type.js';
import { SHARED_USER, type ConsoleUser } from './auth.js';
import { mediaType, readBody, readJsonObject, sendBytes, sendError, sendJson, statusFor } from './http.js';
import type { JobTracker } from './job-tracker.js';
import { isRef, parseOrigin, toJson, type WebOrigin } from './origin.js';
import type { UploadStore } from './uploads.js';

export interface ApiDeps {
  commands: HearthCommands;
  jobs: AdapterJobs;
  config: HearthConfig;
  tracker: JobTracker;
  uploads: UploadStore;
  /** Aborted when the console closes: a chat message waiting for its image's description stops waiting. */
  signal: AbortSignal;
}

/**
 * Who calls the console's API: the browser session (its key, never the cookie's id; it names the
 * conversation, the cards and the images) and the user it acts as for limits and fair share (everyone
 * shares `web:console` unless signed in with their own `web.users` token).
 */
export interface Caller {
  session: string;
  user: ConsoleUser;
}

/** The conversation of a browser session. */
export function conversationOf(session: string): string {
  return `web:session:${session}`;
}

/**
 * A console command's invocation. Commands that queue work run as a regular user (the per-user queue
 * cap and daily limit hold, as on Discord and Slack, for the console's shared user as a whole); cancel
 * and status run as the machine's admin (see {@link ConsoleApi.cancel}).
 */
export function invocation(caller: Caller, origin: Omit<WebOrigin, 'platform' | 'session'>, admin = false): Invocation {
  return {
    platform: 'web',
    userId: caller.user.userId,
    userName: caller.user.userName,
    admin,
    weight: 1,
    conversationId: conversationOf(caller.session),
    origin: toJson({ platform: 'web', session: caller.session, ...origin }),
  };
}

/** The console's admin view of the engine (the whole queue), for its own caps and lookups. */
const MACHINE: Invocation = { platform: 'web', userId: 'web:dashboard', admin: true, weight: 1, origin: null };
/** Commands that queue GPU work, held to `web.maxQueued`. */
const QUEUEING = new Set(['ask', 'imagine', 'reroll', 'vary', 'caption']);

const JOB_PATH = /^\/api\/jobs\/([A-Za-z0-9_-]{1,64})\/(image|preview)\.png$/;

/** The console's JSON API: the same commands, options, limits and error codes as the chat platforms. */
export class ConsoleApi {
  readonly #d: ApiDeps;

  constructor(deps: ApiDeps) {
    this.#d = deps;
  }

  /** Answers an /api/ request (but the event streams); false when no route matches. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL, caller: Caller): Promise<boolean> {
    const route = `${req.method ?? 'GET'} ${url.pathname}`;
    switch (route) {
      case 'GET /api/info':
        sendJson(res, 200, this.#info(caller));
        return true;
      case 'GET /api/queue':
        sendJson(res, 200, this.#queue(caller));
        return true;
      case 'POST /api/uploads':
        await this.#upload(req, res, caller.session);
        return true;
      case 'POST /api/ask':
      case 'POST /api/imagine':
      case 'POST /api/reroll':
      case 'POST /api/vary':
      case 'POST /api/caption':
      case 'POST /api/cancel':
      case 'POST /api/forget':
        await this.#command(route.slice('POST /api/'.length), req, res, caller);
        return true;
    }
    const m = req.method === 'GET' ? JOB_PATH.exec(url.pathname) : null;
    if (m) {
      this.#image(res, m[1]!, m[2] as 'image' | 'preview', caller.session);
      return true;
    }
    return false;
  }

  #info(caller: Caller): Record<string, Json> {
    const { commands, config } = this.#d;
    const image = config.models.image;
    return {
      userId: caller.user.userId,
      signedIn: caller.user.name ?? null,
      available: { ...commands.available() },
      limits: JSON.parse(JSON.stringify(commands.limits)) as Json,
      maxUploadBytes: config.files.maxBytes,
      imageDefaults: image && commands.imageModel ? { ...commands.imageModel.defaults } : null,
      // The model's options in words (its name, native size, what it allows), shown with the form.
      imageSummary: commands.imageModel ? imageModelSummary(commands.imageModel) : null,
      maxQueuedPerUser: config.limits.maxQueuedPerUser,
      maxQueued: config.web.maxQueued,
    };
  }

  /** The queue, with `mine` the jobs of this browser session (not of everyone sharing its user). */
  #queue(caller: Caller): Json {
    const view = this.#d.commands.queue(invocation(caller, { ref: 'queue' }));
    const own = new Set(this.#activeOf(caller.session).map((j) => j.id));
    const mine = view.mine.filter((j) => own.has(j.jobId)).map((j) => ({
      ...j,
      text: j.state === 'running' ? `running${j.of ? ` (step ${j.step ?? 0} of ${j.of})` : ''}` : `waiting, starts in ${etaText(j.etaSeconds ?? 0)}`,
    }));
    return JSON.parse(JSON.stringify({ ...view, mine })) as Json;
  }

  async #upload(req: IncomingMessage, res: ServerResponse, session: string): Promise<void> {
    const type = mediaType(req);
    if (!type.startsWith('image/') && type !== 'application/octet-stream') {
      sendError(res, { code: 'IMAGE_INVALID', message: `send the image itself (image/png, image/jpeg, image/gif or image/webp); got ${type || 'no content type'}`, facts: { given: type } });
      return;
    }
    const body = await readBody(req, this.#d.config.files.maxBytes, 'image');
    if (!body.ok) {
      sendError(res, body.error, { Connection: 'close' });
      return;
    }
    const sniffed = sniffImageType(body.value);
    if (!isSupportedFormat(sniffed)) {
      sendError(res, { code: 'IMAGE_INVALID', message: `the file is not a PNG, JPEG, GIF or WebP image (it looks like ${sniffed})`, facts: { given: sniffed, allowed: ['png', 'jpeg', 'gif', 'webp'] } });
      return;
    }
    const uploadId = this.#d.uploads.put(session, new Uint8Array(body.value));
    sendJson(res, 201, { uploadId, bytes: body.value.byteLength, format: sniffed });
  }

  async #command(name: string, req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
    if (mediaType(req) !== 'application/json') {
      sendError(res, { code: 'INVALID_INPUT', message: 'send the command as JSON (Content-Type: application/json)', facts: { given: mediaType(req) } });
      return;
    }
    const body = await readJsonObject(req);
    if (!body.ok) return sendError(res, body.error);
    const b = body.value;
    const ref = isRef(b.ref) ? b.ref : `r${Date.now().toString(36)}`;
    const full = QUEUEING.has(name) ? this.#consoleFull() : undefined;
    let result: Result<Json>;
    if (full) result = err(full);
    else {
      switch (name) {
        case 'ask':
          result = job(await this.#ask(b, caller, ref));
          break;
        case 'imagine':
          result = job(await this.#imagine(b, caller, ref));
          break;
        case 'reroll':
          result = job(this.#reroll(b, caller, ref));
          break;
        case 'vary':
          result = job(this.#vary(b, caller, ref));
          break;
        case 'caption':
          result = job(await this.#caption(b, caller, ref));
          break;
        case 'cancel':
          result = job(this.cancel(b, caller));
          break;
        default: {
          const forgotten = this.#d.commands.forget(invocation(caller, { ref }));
          result = forgotten.ok ? ok({ turns: forgotten.value.turns }) : forgotten;
        }
      }
    }
    if (result.ok) sendJson(res, 200, result.value);
    else sendJson(res, statusFor(result.error.code), { error: consoleError(result.error, caller) });
  }

  /** Why the console as a whole may not queue more now (`web.maxQueued`), or undefined. */
  #consoleFull(): ErrorInfo | undefined {
    const max = this.#d.config.web.maxQueued;
    const active = this.#d.commands.activeJobs(MACHINE).filter((j) => j.userId.startsWith('web:')).length;
    if (active < max) return undefined;
    return { code: 'QUEUE_FULL', message: `the console has ${active} jobs queued or running; its limit is ${max}`, facts: { given: active + 1, allowed: max, scope: 'console' } };
  }

  /** The queued and running jobs of a browser session, newest first. */
  #activeOf(session: string): JobRecord[] {
    const out: JobRecord[] = [];
    for (const j of this.#d.commands.activeJobs(MACHINE)) {
      const record = this.#d.jobs.getJob(j.jobId);
      if (record && parseOrigin(record.origin)?.session === session) out.push(record);
    }
    return out.sort((a, b) => b.createdAt - a.createdAt);
  }

  /** A job of this browser session (its origin names the session), whatever its state. */
  #ownJob(jobId: string, session: string): JobRecord | undefined {
    const job = jobId ? this.#d.jobs.getJob(jobId) : undefined;
    return job && parseOrigin(job.origin)?.session === session ? job : undefined;
  }

  /**
   * A chat message, with or without an image. With one, the commands describe the image first (a
   * caption job of this user, in the same card) and keep the description in the conversation; this
   * answer waits for that and returns the chat job. The wait is not tied to the request: a page
   * reloaded meanwhile still gets its answer through the session's event stream.
   */
  async #ask(b: Record<string, Json>, caller: Caller, ref: string): Promise<Result<JobRecord>> {
    const prompt = typeof b.prompt === 'string' ? b.prompt : '';
    // A LoRA adapter by name (the commands refuse an unknown one, listing the names).
    const adapter = typeof b.adapter === 'string' && b.adapter !== '' ? { adapter: b.adapter } : {};
    const session = caller.session;
    if (b.uploadId === undefined || b.uploadId === null || b.uploadId === '') {
      return this.#d.commands.ask({ prompt, ...adapter }, invocation(caller, { ref }));
    }
    const bytes = this.#take(b.uploadId, session);
    if (!bytes.ok) return bytes;
    const inv = invocation(caller, { ref, then: 'ask', prompt: prompt.trim() });
    const asked = await this.#d.commands.ask({ prompt, images: [{ bytes: bytes.value }], ...adapter }, inv, { signal: this.#d.signal });
    // The card may already show its image being described: it ends with the reason too.
    if (!asked.ok) this.#d.tracker.fail({ platform: 'web', session, ref, then: 'ask', prompt: prompt.trim() }, asked.error);
    return asked;
  }

  /**
   * /imagine from the form; with `uploadId` (an image this session uploaded) it is image-to-image. The
   * options are checked before the upload is taken, so a refused option leaves it for the corrected request.
   */
  async #imagine(b: Record<string, Json>, caller: Caller, ref: string): Promise<Result<JobRecord>> {
    const input = imagineInput(b);
    if (!input.ok) return input;
    const inv = invocation(caller, { ref });
    if (b.uploadId === undefined || b.uploadId === null || b.uploadId === '') return this.#d.commands.imagineFrom(input.value, inv);
    const checked = this.#d.commands.checkImagine({ ...input.value, image: { bytes: new Uint8Array() } });
    if (!checked.ok) return checked;
    const bytes = this.#take(b.uploadId, caller.session);
    if (!bytes.ok) return bytes;
    return this.#d.commands.imagineFrom({ ...input.value, image: { bytes: bytes.value } }, inv, { signal: this.#d.signal });
  }

  /**
   * Vary: a variation of one of this session's images, at `variation` (a preset: `subtle`, `strong`)
   * or at a `strength` of 0–1.
   */
  #vary(b: Record<string, Json>, caller: Caller, ref: string): Result<JobRecord> {
    const jobId = typeof b.jobId === 'string' ? b.jobId : '';
    if (!this.#ownJob(jobId, caller.session)) return err({ code: 'NOT_FOUND', message: 'that image is not one of yours in this browser, so it cannot be varied', facts: { given: jobId } });
    const preset = typeof b.variation === 'string' ? variationById(b.variation) : undefined;
    if (typeof b.variation === 'string' && !preset) {
      return err({ code: 'INVALID_INPUT', message: `unknown variation "${b.variation.slice(0, 40)}"; choose ${VARIATIONS.map((v) => v.id).join(' or ')}, or give a strength`, facts: { option: 'variation', given: b.variation, allowed: VARIATIONS.map((v) => v.id) } });
    }
    const strength = preset ? preset.strength : typeof b.strength === 'number' ? b.strength : typeof b.strength === 'string' && b.strength.trim() !== '' ? Number(b.strength) : NaN;
    if (!Number.isFinite(strength)) {
      return err({ code: 'INVALID_INPUT', message: `give a variation (${VARIATIONS.map((v) => v.id).join(' or ')}) or a strength from 0 to 1`, facts: { option: 'strength', given: b.strength ?? null, allowed: '0–1' } });
    }
    return this.#d.commands.vary(jobId, strength, invocation(caller, { ref }));
  }

  #reroll(b: Record<string, Json>, caller: Caller, ref: string): Result<JobRecord> {
    const jobId = typeof b.jobId === 'string' ? b.jobId : '';
    if (!this.#ownJob(jobId, caller.session)) return err({ code: 'NOT_FOUND', message: 'that image is not one of yours in this browser, so it cannot be rerolled', facts: { given: jobId } });
    return this.#d.commands.reroll(jobId, invocation(caller, { ref }));
  }

  async #caption(b: Record<string, Json>, caller: Caller, ref: string): Promise<Result<JobRecord>> {
    // Options first: a refused option leaves the upload for the corrected request.
    const options = parseCaptionOptions({ question: b.question, detail: b.detail });
    if (!options.ok) return options;
    const bytes = this.#take(b.uploadId, caller.session);
    if (!bytes.ok) return bytes;
    return this.#d.commands.caption({ imageBytes: bytes.value, ...options.value }, invocation(caller, { ref }));
  }

  /**
   * Cancels a job: any job, whoever's, since the console's user is the admin of their own machine (the
   * dashboard's cancel buttons); without a job id, this browser session's newest (not the newest of
   * everyone sharing the console's user).
   */
  cancel(b: Record<string, Json>, caller: Caller): Result<JobRecord> {
    const jobId = typeof b.jobId === 'string' && b.jobId !== '' ? b.jobId : this.#activeOf(caller.session)[0]?.id;
    if (jobId === undefined) return err({ code: 'NOT_FOUND', message: 'you have no job waiting or running in this browser', facts: {} });
    // Another browser's job (the dashboard's cancel buttons) is stopped by the dashboard, so its owner is told so.
    return this.#d.commands.cancel(jobId, this.#ownJob(jobId, caller.session) ? invocation(caller, { ref: 'cancel' }, true) : MACHINE);
  }

  #take(uploadId: Json | undefined, session: string): Result<Uint8Array> {
    if (typeof uploadId !== 'string' || uploadId === '') return err({ code: 'INVALID_INPUT', message: 'attach an image first', facts: { given: 'none' } });
    const bytes = this.#d.uploads.take(session, uploadId);
    if (!bytes) return err({ code: 'NOT_FOUND', message: 'that upload is gone (uploads are kept 15 minutes and used once); attach the image again', facts: { given: uploadId } });
    return ok(bytes);
  }

  #image(res: ServerResponse, jobId: string, which: 'image' | 'preview', session: string): void {
    if (which === 'preview') {
      const png = this.#d.tracker.preview(jobId, session);
      if (png) return sendBytes(res, png, 'image/png');
    } else {
      const png = this.#ownJob(jobId, session)?.result?.image?.png;
      if (png) return sendBytes(res, png, 'image/png', 'private, max-age=86400, immutable');
    }
    sendError(res, { code: 'NOT_FOUND', message: `there is no ${which} for job ${jobId} in this browser session`, facts: { given: jobId } });
  }
}

/**
 * An expected failure as the console words it: the console's own cap in its own words, and a note
 * when a per-user limit is the one everyone at the console shares.
 */
export function consoleError(error: ErrorInfo, caller: Caller): { code: ErrorInfo['code']; message: string; facts: Record<string, Json> } {
  const facts: Record<string, Json> = { ...(error.facts ?? {}) };
  let message = errorText(error);
  if (error.code === 'QUEUE_FULL' && error.facts.scope === 'console') {
    message = `The console already has ${error.facts.given - 1} jobs waiting or running (the limit for everyone here together is ${error.facts.allowed}). Wait for one to finish, or cancel one.`;
  } else if ((error.code === 'QUEUE_FULL' || error.code === 'DAILY_LIMIT') && caller.user.userId === SHARED_USER.userId) {
    message += ' Everyone using this console without a token of their own shares this limit.';
  }
  return { code: error.code, message, facts };
}

function job(r: Result<JobRecord>): Result<Json> {
  return r.ok ? ok({ jobId: r.value.id, kind: r.value.kind, state: r.value.state }) : r;
}

/** The /imagine options from JSON (the image job contract reads the form's values); the command checks the ranges. */
export function imagineInput(b: Record<string, Json>): Result<ImageOptionsInput> {
  return imageOptionsFromJson(b);
}
