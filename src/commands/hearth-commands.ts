import type { HearthConfig } from '../config/schema.js';
import type { Clock } from '../engine/clock.js';
import type { Engine, EngineSnapshot } from '../engine/engine.js';
import type { JobStore, UsageBucket, UserSeconds } from '../engine/store/job-store.js';
import { err, ok, type ErrorInfo, type JobKind, type JobRecord, type Json, type Result } from '../engine/types.js';
import type { Invocation } from './invocation.js';
import { fetchImage, type FetchImageOptions } from '../media/safe-fetch.js';

/** Limits of the command options, as data: adapters show them (Discord option bounds, help texts). */
export interface CommandLimits {
  maxPromptChars: number;
  image: { minSize: number; maxSize: number; maxSteps: number; maxGuidance: number; schedulers: readonly string[] };
  captionDetails: readonly ['short', 'detailed'];
}

export interface AskInput {
  prompt: string;
  /** Images in the message: each is described by the captioner and the chat sees the description. */
  imageUrls?: string[];
  /** Images uploaded as bytes (the web console), treated like `imageUrls`. */
  images?: Array<{ bytes: Uint8Array; contentType?: string }>;
}

export interface ImagineInput {
  prompt: string;
  negativePrompt?: string;
  width?: number;
  height?: number;
  steps?: number;
  guidance?: number;
  seed?: number;
  scheduler?: string;
}

export interface CaptionInput {
  /** Either a URL (downloaded under files.allowedHosts and the byte cap) or the bytes themselves. */
  imageUrl?: string;
  imageBytes?: Uint8Array;
  /** What the uploader said the file is (content type or file name), checked against its bytes. */
  contentType?: string;
  question?: string;
  detail?: 'short' | 'detailed';
}

export interface QueueView {
  mine: Array<{ jobId: string; kind: string; state: 'running' | 'queued'; position?: number; etaSeconds?: number; step?: number; of?: number }>;
  queued: number;
  running: EngineSnapshot['running'];
  users: number;
}

/** A queued or running job, as /cancel's choices list it. */
export interface ActiveJob {
  jobId: string;
  userId: string;
  kind: JobKind;
  state: 'running' | 'queued';
  position?: number;
  step?: number;
  of?: number;
}

export interface StatusView extends EngineSnapshot {
  usageToday: UserSeconds[];
  usageLastHour: UserSeconds[];
  /** GPU-seconds per user per hour over the last 24 hours, for a chart. */
  usageBuckets: UsageBucket[];
}

export interface HearthCommandsOptions {
  engine: Engine;
  store: JobStore;
  config: HearthConfig;
  clock: Clock;
  /** Injected so tests use a fake; default: the global fetch. */
  fetch?: typeof fetch;
  /** Platform tokens for their own file hosts only (Slack's files need the bot token). */
  headersForHost?: FetchImageOptions['headersForHost'];
}

const MAX_ASK_CHARS = 6000;
const SCHEDULERS = ['default', 'euler', 'euler_a', 'dpmpp_2m_karras', 'ddim', 'lcm'] as const;

/**
 * Every command, defined once: options and their limits, who may run it, the job it makes. Results are
 * data (job records, views, typed errors); each adapter owns the wording and the presentation.
 */
export class HearthCommands {
  readonly #engine: Engine;
  readonly #store: JobStore;
  readonly #config: HearthConfig;
  readonly #clock: Clock;
  readonly #fetch: typeof fetch | undefined;
  readonly #headersForHost: FetchImageOptions['headersForHost'];

  constructor(options: HearthCommandsOptions) {
    this.#engine = options.engine;
    this.#store = options.store;
    this.#config = options.config;
    this.#clock = options.clock;
    this.#fetch = options.fetch;
    this.#headersForHost = options.headersForHost;
  }

  get limits(): CommandLimits {
    const img = this.#config.models.image?.limits;
    return {
      maxPromptChars: MAX_ASK_CHARS,
      image: {
        minSize: img?.minSize ?? 256,
        maxSize: img?.maxSize ?? 1024,
        maxSteps: img?.maxSteps ?? 60,
        maxGuidance: 30,
        schedulers: SCHEDULERS,
      },
      captionDetails: ['short', 'detailed'],
    };
  }

  /** Which commands can run here (a model for them is configured). */
  available(): { ask: boolean; imagine: boolean; caption: boolean } {
    const kinds = new Set(this.#engine.models().map((m) => m.kind));
    return { ask: kinds.has('chat'), imagine: kinds.has('image'), caption: kinds.has('caption') };
  }

  /**
   * /ask: queues a chat turn in the invocation's conversation. The prompt carries the conversation's
   * history (trimmed to the context by the runner) and, for attached images, their descriptions.
   */
  async ask(input: AskInput, inv: Invocation, opts: { signal?: AbortSignal } = {}): Promise<Result<JobRecord>> {
    const prompt = input.prompt.trim();
    if (prompt.length === 0) return invalid('your question is empty; type something after /ask', { given: 0, allowed: `1–${MAX_ASK_CHARS} characters` });
    if (prompt.length > MAX_ASK_CHARS) {
      return err({ code: 'PROMPT_TOO_LONG', message: `your question is ${prompt.length} characters; the limit is ${MAX_ASK_CHARS}`, facts: { given: prompt.length, allowed: MAX_ASK_CHARS } });
    }
    const chat = this.#config.models.chat;
    if (!chat) return err({ code: 'MODEL_MISSING', message: 'no chat model is configured (models.chat.path)', facts: { given: 'chat' } });

    const conversationId = inv.conversationId;
    const system = (inv.channelId && chat.channelSystemPrompts[inv.channelId]) || chat.systemPrompt;
    const messages: Array<{ role: string; content: string }> = [{ role: 'system', content: system }];
    // History first: describing this message's images adds them to it, and they are added below once.
    if (conversationId) {
      for (const t of this.#store.getTurns(conversationId, 200)) {
        if (t.role === 'user' || t.role === 'assistant') messages.push({ role: t.role, content: t.content });
        else if (t.role === 'context') messages.push({ role: 'user', content: t.content });
      }
    }
    // Each image is described by a caption job of this user, queued before the chat: FIFO within a
    // user runs it first, and ImageContextLinker puts its description into the chat before it starts.
    // Everything is in the store before this returns, so a restart loses none of it.
    const sources: CaptionInput[] = [
      ...(input.imageUrls ?? []).map((imageUrl) => ({ imageUrl })),
      ...(input.images ?? []).map((i) => ({ imageBytes: i.bytes, ...(i.contentType ? { contentType: i.contentType } : {}) })),
    ];
    const awaiting: string[] = [];
    for (const source of sources) {
      const queued = await this.#captionForChat(source, inv, opts);
      if (!queued.ok) {
        for (const id of awaiting) this.#engine.cancel(id, { userId: inv.userId, admin: true });
        return queued;
      }
      awaiting.push(queued.value.id);
    }
    messages.push({ role: 'user', content: prompt });
    const steps = 1 + Math.ceil(chat.maxTokens / chat.tokensPerStep);
    const payload: Json = { messages, maxTokens: chat.maxTokens, question: prompt, context: [], ...(awaiting.length > 0 ? { awaiting } : {}) };
    const submitted = this.#engine.submit(
      {
        kind: 'chat',
        model: 'chat',
        userId: inv.userId,
        payload,
        origin: inv.origin,
        weight: inv.weight,
        estimatedSteps: steps,
        ...(conversationId ? { conversationId } : {}),
      },
      { admin: inv.admin },
    );
    // A refused question takes its image descriptions with it.
    if (!submitted.ok) for (const id of awaiting) this.#engine.cancel(id, { userId: inv.userId, admin: true });
    return submitted;
  }

  /** /imagine: validates the options against the configured bounds and queues the image. */
  imagine(input: ImagineInput, inv: Invocation): Result<JobRecord> {
    const image = this.#config.models.image;
    if (!image) return err({ code: 'MODEL_MISSING', message: 'no image model is configured (models.image.dir)', facts: { given: 'image' } });
    const lim = image.limits;
    const prompt = input.prompt.trim();
    if (prompt.length === 0) return invalid('the prompt is empty; describe the image you want', { given: 0, allowed: `1–${lim.maxPromptChars} characters` });
    if (prompt.length > lim.maxPromptChars) {
      return err({ code: 'PROMPT_TOO_LONG', message: `the prompt is ${prompt.length} characters; the limit is ${lim.maxPromptChars}`, facts: { given: prompt.length, allowed: lim.maxPromptChars } });
    }
    const width = input.width ?? image.defaults.width;
    const height = input.height ?? image.defaults.height;
    for (const [name, v] of [['width', width], ['height', height]] as const) {
      if (!Number.isInteger(v) || v % 8 !== 0 || v < lim.minSize || v > lim.maxSize) {
        return invalid(`${name} must be a multiple of 8 from ${lim.minSize} to ${lim.maxSize}; got ${v}`, { option: name, given: v, allowed: `${lim.minSize}–${lim.maxSize}, multiple of 8` });
      }
    }
    const steps = input.steps ?? image.defaults.steps;
    if (!Number.isInteger(steps) || steps < 1 || steps > lim.maxSteps) {
      return invalid(`steps must be a whole number from 1 to ${lim.maxSteps}; got ${steps}`, { option: 'steps', given: steps, allowed: `1–${lim.maxSteps}` });
    }
    const guidance = input.guidance ?? image.defaults.guidance;
    if (!(guidance >= 0 && guidance <= 30)) {
      return invalid(`guidance must be from 0 to 30; got ${guidance}`, { option: 'guidance', given: guidance, allowed: '0–30' });
    }
    if (input.seed !== undefined && !(Number.isInteger(input.seed) && input.seed >= 0 && input.seed <= 0xffffffff)) {
      return invalid(`seed must be a whole number from 0 to 4294967295; got ${input.seed}`, { option: 'seed', given: input.seed, allowed: '0–4294967295' });
    }
    const scheduler = input.scheduler ?? image.defaults.scheduler;
    if (!(SCHEDULERS as readonly string[]).includes(scheduler)) {
      return invalid(`unknown scheduler "${scheduler}"; choose one of ${SCHEDULERS.join(', ')}`, { option: 'scheduler', given: scheduler, allowed: [...SCHEDULERS] });
    }
    const seed = input.seed ?? Math.floor(Math.random() * 0xffffffff);
    const negativePrompt = input.negativePrompt ?? image.defaults.negativePrompt;
    const payload: Json = { prompt, negativePrompt, width, height, steps, guidance, seed, scheduler };
    return this.#engine.submit(
      { kind: 'image', model: 'image', userId: inv.userId, payload, origin: inv.origin, weight: inv.weight, estimatedSteps: steps + 2 },
      { admin: inv.admin },
    );
  }

  /** Reroll: the same image options as a finished /imagine job, with a new seed. */
  reroll(jobId: string, inv: Invocation): Result<JobRecord> {
    const job = this.#engine.getJob(jobId);
    if (!job || job.kind !== 'image') return err({ code: 'NOT_FOUND', message: 'that image job is gone, so it cannot be rerolled', facts: { given: jobId } });
    const p = job.payload as Record<string, Json>;
    const { seed: _seed, ...rest } = p;
    return this.imagine({ ...(rest as unknown as ImagineInput) }, inv);
  }

  /** /caption: downloads (or takes) the image under the configured caps and queues a caption job. */
  async caption(input: CaptionInput, inv: Invocation, opts: { signal?: AbortSignal } = {}): Promise<Result<JobRecord>> {
    return this.#caption(input, inv, opts, false);
  }

  /** `forChat`: the description of an image attached to a question, shown as part of that question's answer. */
  async #caption(input: CaptionInput, inv: Invocation, opts: { signal?: AbortSignal }, forChat: boolean): Promise<Result<JobRecord>> {
    if (!this.#config.models.caption) {
      return err({ code: 'MODEL_MISSING', message: 'no caption model is configured (models.caption.dir)', facts: { given: 'caption' } });
    }
    const question = input.question?.trim();
    if (question !== undefined && question.length > 500) {
      return err({ code: 'PROMPT_TOO_LONG', message: `the question is ${question.length} characters; the limit is 500`, facts: { given: question.length, allowed: 500 } });
    }
    const bytes = await this.#imageBytes(input, opts);
    if (!bytes.ok) return bytes;
    const payload: Json = {
      imageBase64: Buffer.from(bytes.value.bytes).toString('base64'),
      // The runner compares what the bytes are with what the host said they are (a lying type is refused).
      ...(bytes.value.contentType ? { declaredType: bytes.value.contentType } : {}),
      detail: input.detail ?? 'short',
      ...(question ? { question } : {}),
      ...(forChat ? { forChat: true } : {}),
    };
    return this.#engine.submit(
      { kind: 'caption', model: 'caption', userId: inv.userId, payload, origin: inv.origin, weight: inv.weight, estimatedSteps: 1 },
      { admin: inv.admin },
    );
  }

  /** /cancel: a given job, or else the caller's newest queued or running job. */
  cancel(jobId: string | undefined, inv: Invocation): Result<JobRecord> {
    let id = jobId;
    if (!id) {
      const mine = this.#store.listJobs({ userId: inv.userId, states: ['queued', 'running'], order: 'recent', limit: 1 });
      id = mine[0]?.id;
      if (!id) return err({ code: 'NOT_FOUND', message: 'you have no job waiting or running', facts: {} });
    }
    return this.#engine.cancel(id, { userId: inv.userId, admin: inv.admin });
  }

  /** /forget: clears the conversation's memory. Returns how many turns were forgotten. */
  forget(inv: Invocation): Result<{ turns: number }> {
    if (!inv.conversationId) return invalid('there is no conversation here to forget', { given: 'none' });
    return ok({ turns: this.#store.clearConversation(inv.conversationId) });
  }

  /** /queue: your jobs with position and ETA, and how busy the GPU is. */
  queue(inv: Invocation): QueueView {
    const snap = this.#engine.snapshot();
    const mine: QueueView['mine'] = [];
    for (const r of snap.running) if (r.userId === inv.userId) mine.push({ jobId: r.jobId, kind: r.kind, state: 'running', step: r.step, of: r.of });
    for (const q of snap.queue) if (q.userId === inv.userId) mine.push({ jobId: q.jobId, kind: q.kind, state: 'queued', position: q.position, etaSeconds: q.etaSeconds });
    const users = new Set([...snap.running.map((r) => r.userId), ...snap.queue.map((q) => q.userId)]);
    return { mine, queued: snap.queue.length, running: snap.running, users: users.size };
  }

  /**
   * The queued and running jobs the caller may act on (cancel): their own, or everyone's for an admin;
   * running first, then in queue order.
   */
  activeJobs(inv: Invocation): ActiveJob[] {
    const snap = this.#engine.snapshot();
    const rows: ActiveJob[] = [
      ...snap.running.map((r): ActiveJob => ({ jobId: r.jobId, userId: r.userId, kind: r.kind, state: 'running', step: r.step, of: r.of })),
      ...snap.queue.map((q): ActiveJob => ({ jobId: q.jobId, userId: q.userId, kind: q.kind, state: 'queued', position: q.position })),
    ];
    return rows.filter((r) => inv.admin || r.userId === inv.userId);
  }

  /** A job id as typed: the whole id, or a unique prefix of one the caller may act on (/queue shows short ids). */
  resolveJobId(given: string, inv: Invocation): string {
    const g = given.trim();
    if (this.#engine.getJob(g)) return g;
    const matches = [...new Set(this.activeJobs(inv).map((j) => j.jobId).filter((id) => id.startsWith(g)))];
    return matches.length === 1 ? matches[0]! : g;
  }

  /** /hearth status (admins): loaded models, VRAM, the queue by user, GPU-seconds used. */
  status(inv: Invocation): Result<StatusView> {
    if (!inv.admin) return err({ code: 'FORBIDDEN', message: 'only hearth admins can see the status', facts: {} });
    const now = this.#clock.now();
    return ok({
      ...this.#engine.snapshot(),
      usageToday: this.#store.usageByUser(now - (now % 86_400_000)),
      usageLastHour: this.#store.usageByUser(now - 3_600_000),
      usageBuckets: this.#store.usageBuckets(now - 86_400_000, 3_600_000),
    });
  }

  /** Recently ended jobs, newest first: everyone's for an admin, else the caller's own. From the store, so they survive restarts. */
  recentJobs(inv: Invocation, limit = 20): JobRecord[] {
    const n = Math.max(1, Math.min(200, Math.floor(limit)));
    return this.#store.listJobs({ states: ['done', 'failed', 'cancelled'], order: 'recent', limit: n, ...(inv.admin ? {} : { userId: inv.userId }) });
  }

  async #imageBytes(input: CaptionInput, opts: { signal?: AbortSignal }): Promise<Result<{ bytes: Uint8Array; contentType: string | null }>> {
    const maxBytes = this.#config.files.maxBytes;
    if (input.imageBytes) {
      if (input.imageBytes.byteLength > maxBytes) {
        return err({ code: 'IMAGE_TOO_LARGE', message: `the image is ${input.imageBytes.byteLength} bytes; the limit is ${maxBytes}`, facts: { given: input.imageBytes.byteLength, allowed: maxBytes } });
      }
      return ok({ bytes: input.imageBytes, contentType: input.contentType ?? null });
    }
    if (!input.imageUrl) return invalid('attach an image to describe', { given: 'none' });
    const fetchOpts: FetchImageOptions = { allowedHosts: this.#config.files.allowedHosts, maxBytes };
    if (this.#fetch) fetchOpts.fetch = this.#fetch;
    if (this.#headersForHost) fetchOpts.headersForHost = this.#headersForHost;
    if (opts.signal) fetchOpts.signal = opts.signal;
    const got = await fetchImage(input.imageUrl, fetchOpts);
    return got.ok ? ok({ bytes: got.value.bytes, contentType: got.value.contentType }) : got;
  }

  /** An image attached to /ask: a caption job of the same user, under the same caps and fair scheduler. */
  async #captionForChat(source: CaptionInput, inv: Invocation, opts: { signal?: AbortSignal }): Promise<Result<JobRecord>> {
    if (!this.#config.models.caption) {
      return err({ code: 'MODEL_MISSING', message: 'images in a chat need a caption model (models.caption.dir)', facts: { given: 'caption' } });
    }
    return this.#caption({ ...source, detail: 'detailed' }, inv, opts, true);
  }
}

function invalid(message: string, facts: Record<string, Json>): Result<never> {
  return err<ErrorInfo>({ code: 'INVALID_INPUT', message, facts });
}
