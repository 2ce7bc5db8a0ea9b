import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HearthCommands } from '../../commands/hearth-commands.js';
import type { Invocation } from '../../commands/invocation.js';
import { etaText } from '../../commands/wording.js';
import type { HearthConfig } from '../../config/schema.js';
import type { AdapterJobs } from '../adapter.js';
import { err, ok, type JobRecord, type Json, type Result } from '../../engine/types.js';
import { parseCaptionOptions } from '../../jobs/caption.js';
import { imageOptionsFromJson, type ImageOptionsInput } from '../../jobs/image.js';
import { isSupportedFormat, sniffImageType } from '../../media/image-type.js';
import { mediaType, readBody, readJsonObject, sendBytes, sendError, sendJson } from './http.js';
import type { JobTracker } from './job-tracker.js';
import { isRef, toJson, type WebOrigin } from './origin.js';
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

/** The console's user id for a browser session. */
export function webUserId(session: string): string {
  return `web:${session}`;
}

/**
 * A console user: one per browser session, with that session's conversation. Commands that queue
 * work run as a regular user (the per-user queue cap and daily limit hold, as on Discord and Slack);
 * cancel and status run as the machine's admin (see {@link ConsoleApi.cancel}).
 */
export function invocation(session: string, origin: Omit<WebOrigin, 'platform' | 'session'>, admin = false): Invocation {
  return {
    platform: 'web',
    userId: webUserId(session),
    userName: `console ${session.slice(0, 6)}`,
    admin,
    weight: 1,
    conversationId: webUserId(session),
    origin: toJson({ platform: 'web', session, ...origin }),
  };
}

const JOB_PATH = /^\/api\/jobs\/([A-Za-z0-9_-]{1,64})\/(image|preview)\.png$/;

/** The console's JSON API: the same commands, options, limits and error codes as the chat platforms. */
export class ConsoleApi {
  readonly #d: ApiDeps;

  constructor(deps: ApiDeps) {
    this.#d = deps;
  }

  /** Answers an /api/ request (but the event streams); false when no route matches. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL, session: string): Promise<boolean> {
    const route = `${req.method ?? 'GET'} ${url.pathname}`;
    switch (route) {
      case 'GET /api/info':
        sendJson(res, 200, this.#info(session));
        return true;
      case 'GET /api/queue':
        sendJson(res, 200, this.#queue(session));
        return true;
      case 'POST /api/uploads':
        await this.#upload(req, res, session);
        return true;
      case 'POST /api/ask':
      case 'POST /api/imagine':
      case 'POST /api/reroll':
      case 'POST /api/caption':
      case 'POST /api/cancel':
      case 'POST /api/forget':
        await this.#command(route.slice('POST /api/'.length), req, res, session);
        return true;
    }
    const m = req.method === 'GET' ? JOB_PATH.exec(url.pathname) : null;
    if (m) {
      this.#image(res, m[1]!, m[2] as 'image' | 'preview', session);
      return true;
    }
    return false;
  }

  #info(session: string): Record<string, Json> {
    const { commands, config } = this.#d;
    const image = config.models.image;
    return {
      userId: webUserId(session),
      available: { ...commands.available() },
      limits: JSON.parse(JSON.stringify(commands.limits)) as Json,
      maxUploadBytes: config.files.maxBytes,
      imageDefaults: image ? { ...image.defaults } : null,
      maxQueuedPerUser: config.limits.maxQueuedPerUser,
    };
  }

  #queue(session: string): Json {
    const view = this.#d.commands.queue(invocation(session, { ref: 'queue' }));
    const mine = view.mine.map((j) => ({
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

  async #command(name: string, req: IncomingMessage, res: ServerResponse, session: string): Promise<void> {
    if (mediaType(req) !== 'application/json') {
      sendError(res, { code: 'INVALID_INPUT', message: 'send the command as JSON (Content-Type: application/json)', facts: { given: mediaType(req) } });
      return;
    }
    const body = await readJsonObject(req);
    if (!body.ok) return sendError(res, body.error);
    const b = body.value;
    const ref = isRef(b.ref) ? b.ref : `r${Date.now().toString(36)}`;
    let result: Result<Json>;
    switch (name) {
      case 'ask':
        result = job(await this.#ask(b, session, ref));
        break;
      case 'imagine': {
        const input = imagineInput(b);
        result = input.ok ? job(this.#d.commands.imagine(input.value, invocation(session, { ref }))) : input;
        break;
      }
      case 'reroll':
        result = job(this.#reroll(b, session, ref));
        break;
      case 'caption':
        result = job(await this.#caption(b, session, ref));
        break;
      case 'cancel':
        result = job(this.cancel(b, session));
        break;
      default: {
        const forgotten = this.#d.commands.forget(invocation(session, { ref }));
        result = forgotten.ok ? ok({ turns: forgotten.value.turns }) : forgotten;
      }
    }
    if (result.ok) sendJson(res, 200, result.value);
    else sendError(res, result.error);
  }

  /**
   * A chat message, with or without an image. With one, the commands describe the image first (a
   * caption job of this user, in the same card) and keep the description in the conversation; this
   * answer waits for that and returns the chat job. The wait is not tied to the request: a page
   * reloaded meanwhile still gets its answer through the session's event stream.
   */
  async #ask(b: Record<string, Json>, session: string, ref: string): Promise<Result<JobRecord>> {
    const prompt = typeof b.prompt === 'string' ? b.prompt : '';
    if (b.uploadId === undefined || b.uploadId === null || b.uploadId === '') {
      return this.#d.commands.ask({ prompt }, invocation(session, { ref }));
    }
    const bytes = this.#take(b.uploadId, session);
    if (!bytes.ok) return bytes;
    const inv = invocation(session, { ref, then: 'ask', prompt: prompt.trim() });
    const asked = await this.#d.commands.ask({ prompt, images: [{ bytes: bytes.value }] }, inv, { signal: this.#d.signal });
    // The card may already show its image being described: it ends with the reason too.
    if (!asked.ok) this.#d.tracker.fail({ platform: 'web', session, ref, then: 'ask', prompt: prompt.trim() }, asked.error);
    return asked;
  }

  #reroll(b: Record<string, Json>, session: string, ref: string): Result<JobRecord> {
    const jobId = typeof b.jobId === 'string' ? b.jobId : '';
    const job = jobId ? this.#d.jobs.getJob(jobId) : undefined;
    if (!job || job.userId !== webUserId(session)) return err({ code: 'NOT_FOUND', message: 'that image is not one of yours in this browser, so it cannot be rerolled', facts: { given: jobId } });
    return this.#d.commands.reroll(jobId, invocation(session, { ref }));
  }

  async #caption(b: Record<string, Json>, session: string, ref: string): Promise<Result<JobRecord>> {
    // Options first: a refused option leaves the upload for the corrected request.
    const options = parseCaptionOptions({ question: b.question, detail: b.detail });
    if (!options.ok) return options;
    const bytes = this.#take(b.uploadId, session);
    if (!bytes.ok) return bytes;
    return this.#d.commands.caption({ imageBytes: bytes.value, ...options.value }, invocation(session, { ref }));
  }

  /**
   * Cancels a job: any job, whoever's, since the console's user is the admin of their own machine (the
   * dashboard's cancel buttons); without a job id, the session's newest.
   */
  cancel(b: Record<string, Json>, session: string): Result<JobRecord> {
    const jobId = typeof b.jobId === 'string' && b.jobId !== '' ? b.jobId : undefined;
    return this.#d.commands.cancel(jobId, invocation(session, { ref: 'cancel' }, jobId !== undefined));
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
      const job = this.#d.jobs.getJob(jobId);
      const png = job && job.userId === webUserId(session) ? job.result?.image?.png : undefined;
      if (png) return sendBytes(res, png, 'image/png', 'private, max-age=86400, immutable');
    }
    sendError(res, { code: 'NOT_FOUND', message: `there is no ${which} for job ${jobId} in this browser session`, facts: { given: jobId } });
  }
}

function job(r: Result<JobRecord>): Result<Json> {
  return r.ok ? ok({ jobId: r.value.id, kind: r.value.kind, state: r.value.state }) : r;
}

/** The /imagine options from JSON (the image job contract reads the form's values); the command checks the ranges. */
export function imagineInput(b: Record<string, Json>): Result<ImageOptionsInput> {
  return imageOptionsFromJson(b);
}
