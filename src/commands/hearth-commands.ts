import type { HearthConfig } from '../config/schema.js';
import type { Clock } from '../engine/clock.js';
import { KEPT_TURNS, type CommandStore, type Engine, type EngineSnapshot, type UsageBucket, type UserSeconds } from '../engine/index.js';
import { err, type ErrorInfo, type FactsOf, type JobKind, type JobRecord, ok, type Result } from '../engine/types.js';
import { buildChatPayload, chatJobSteps, MAX_ASK_CHARS, parseAskQuestion, toJson as chatJson, type ChatMessage } from '../jobs/chat.js';
import { refuse } from '../jobs/contract.js';
import { buildCaptionPayload, CAPTION_DETAILS, MAX_CAPTION_QUESTION_CHARS, parseCaptionOptions, type CaptionDetail } from '../jobs/caption.js';
import {
  DEFAULT_IMAGE_LIMITS,
  GUIDANCE,
  IMAGE_SIZE_MULTIPLE,
  DEFAULT_IMAGE_DEFAULTS,
  DEFAULT_IMAGE_STRENGTH,
  STRENGTH,
  SAMPLER_CHOICES,
  type ImageDefaults,
  SEED,
  type ImageOptionsInput,
  type SamplerChoice,
} from '../jobs/image.js';
import { imageModelRules, type ImageModelProfile, type ImageModelRules } from '../jobs/image-model.js';
import { fetchImage, type FetchImageOptions } from '../media/safe-fetch.js';
import { telemetryOff, type GpuTelemetry, type GpuTelemetrySource } from '../monitoring/gpu-monitor.js';
import type { ClusterStatusSource, WorkerStatus } from '../monitoring/cluster-status.js';
import type { KnowledgeRetriever } from '../knowledge/types.js';
import { samplerOptions, VARIATIONS, type SamplerOption, type VariationId } from './image-choices.js';
import { ImageCommands, startsFromImages } from './image-commands.js';
import type { Invocation } from './invocation.js';
import { KnowledgeAdmin, type KnowledgeIndexAdmin, type KnowledgeVectorsAdmin } from './knowledge-admin.js';

/**
 * Limits of the command options, as data: adapters show them (Discord option bounds, help texts,
 * the console's form). They come from the job contracts (src/jobs) and the configured model.
 */
export interface CommandLimits {
  /** Longest /ask question. */
  maxPromptChars: number;
  /** The LoRA adapters /ask may name (`models.chat.adapters`); none when absent. */
  adapters?: readonly string[];
  image: {
    minSize: number;
    maxSize: number;
    /** Width and height are multiples of this. */
    sizeMultiple: number;
    maxSteps: number;
    minGuidance: number;
    maxGuidance: number;
    maxSeed: number;
    /** Longest prompt, and longest negative prompt. */
    maxPromptChars: number;
    schedulers: readonly SamplerChoice[];
    /** The samplers by the names people know (A1111's), in the order faces offer them. */
    samplers: readonly SamplerOption[];
    /** What an option left out becomes (`models.image.defaults`). */
    defaults: Readonly<ImageDefaults>;
    /**
     * Whether the model can start from an image (image-to-image, Vary): false when its export has no
     * vae_encoder, and then faces offer no image to start from, no strength and no Vary buttons.
     */
    fromImage: boolean;
    /** Image-to-image: how far the given image is repainted (0 keeps it, 1 ignores it). */
    minStrength: number;
    maxStrength: number;
    /** The strength used with an image and no strength given. */
    defaultStrength: number;
    /** The variations a finished image offers (its Vary buttons); none when the model cannot start from an image. */
    variations: ReadonlyArray<{ id: VariationId; label: string; strength: number }>;
  };
  /** Longest /caption question. */
  maxQuestionChars: number;
  captionDetails: readonly CaptionDetail[];
}

export interface AskInput {
  prompt: string;
  /** Images in the message: each is described by the captioner and the chat sees the description. */
  imageUrls?: string[];
  /** Images uploaded as bytes (the web console), treated like `imageUrls`. */
  images?: Array<{ bytes: Uint8Array; contentType?: string }>;
  /** A LoRA adapter of `models.chat.adapters` to answer with; default the channel's (`channelAdapters`), else none. */
  adapter?: string;
}

/** /imagine's options as a person gives them (the image job contract's input), and an image to start from. */
export interface ImagineInput extends ImageOptionsInput {
  /**
   * Image-to-image: the image to start from, a link (downloaded under `files.allowedHosts` and
   * `files.maxBytes`, a platform's own file host with its token) or the bytes (an upload).
   */
  image?: { url: string } | { bytes: Uint8Array; contentType?: string };
  /** With an image: how much to change it, 0 (keep it) to 1 (ignore it); default `models.image.defaults.strength`. */
  strength?: number;
}

export interface CaptionInput {
  /** Either a URL (downloaded under files.allowedHosts and the byte cap) or the bytes themselves. */
  imageUrl?: string;
  imageBytes?: Uint8Array;
  /** What the uploader said the file is (content type or file name), checked against its bytes. */
  contentType?: string;
  question?: string;
  /** `short` or `detailed` (checked by the caption contract: anything else is refused, naming the choices). */
  detail?: CaptionDetail | string;
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
  /** Live readings of the GPUs (nvidia-smi), or why there are none. */
  gpu: GpuTelemetry;
  /** The GPU workers of a cluster (their models, VRAM, telemetry and jobs); null on one box. */
  workers: WorkerStatus[] | null;
}

export interface HearthCommandsOptions {
  engine: Engine;
  store: CommandStore;
  config: HearthConfig;
  clock: Clock;
  /** Injected so tests use a fake; default: the global fetch. */
  fetch?: typeof fetch;
  /** Platform tokens for their own file hosts only (Slack's files need the bot token). */
  headersForHost?: FetchImageOptions['headersForHost'];
  /** GPU telemetry for the status (default: none, said so). */
  gpu?: GpuTelemetrySource;
  /** The cluster's workers (the coordinator's executor), when hearth is a coordinator. */
  cluster?: ClusterStatusSource;
  /** Workspace knowledge: indexed messages relevant to a question, given to the model and listed as sources. */
  knowledge?: KnowledgeRetriever;
  /** The knowledge index, for `/hearth knowledge status|drop` (absent: nothing is indexed). */
  knowledgeIndex?: KnowledgeIndexAdmin;
  /** The message vectors, when search by meaning is on (`models.embedding`): their counts in the knowledge status. */
  knowledgeVectors?: KnowledgeVectorsAdmin;
  /**
   * What the configured image model is (read from its folder at start): its native size becomes the
   * default size, and its limits narrow the config's (SDXL sizes, Turbo steps and guidance).
   */
  imageModel?: ImageModelProfile;
}

/**
 * Every command, defined once: options and their limits, who may run it, the job it makes. Results are
 * data (job records, views, typed errors); each adapter owns the wording and the presentation.
 */
export class HearthCommands {
  readonly #engine: Engine;
  readonly #store: CommandStore;
  readonly #config: HearthConfig;
  readonly #clock: Clock;
  readonly #fetch: typeof fetch | undefined;
  readonly #headersForHost: FetchImageOptions['headersForHost'];
  readonly #gpu: GpuTelemetrySource | undefined;
  readonly #cluster: ClusterStatusSource | undefined;
  readonly #knowledge: KnowledgeRetriever | undefined;
  /** `/hearth knowledge status|drop` (admins): what is indexed in the admin's workspace. */
  readonly knowledge: KnowledgeAdmin;
  readonly #imageRules: ImageModelRules | undefined;
  readonly #images: ImageCommands;

  constructor(options: HearthCommandsOptions) {
    this.#engine = options.engine;
    this.#store = options.store;
    this.#config = options.config;
    this.#clock = options.clock;
    this.#fetch = options.fetch;
    this.#headersForHost = options.headersForHost;
    this.#gpu = options.gpu;
    this.#cluster = options.cluster;
    this.#knowledge = options.knowledge;
    this.knowledge = new KnowledgeAdmin(
      options.knowledgeIndex,
      { slack: options.config.knowledge.slackChannels, discord: options.config.knowledge.discordChannels },
      options.knowledgeVectors,
    );
    const image = options.config.models.image;
    this.#imageRules = image ? imageModelRules(image, options.imageModel) : undefined;
    this.#images = new ImageCommands(this.#engine, this.#imageRules, (input, opts) => this.#imageBytes(input, opts));
  }

  /**
   * The image model's rules: the configured limits and defaults narrowed by what the model is, its
   * native size as the default size when the config names none. What /imagine is held to, and what
   * the faces show (with `imageModelSummary(rules)` for the words). Undefined when no image model is configured.
   */
  get imageModel(): ImageModelRules | undefined {
    return this.#imageRules;
  }

  get limits(): CommandLimits {
    const img = this.#imageRules?.limits ?? DEFAULT_IMAGE_LIMITS;
    const fromImage = startsFromImages(this.#imageRules);
    return {
      maxPromptChars: MAX_ASK_CHARS,
      adapters: Object.keys(this.#config.models.chat?.adapters ?? {}),
      image: {
        minSize: img.minSize,
        maxSize: img.maxSize,
        sizeMultiple: IMAGE_SIZE_MULTIPLE,
        maxSteps: img.maxSteps,
        minGuidance: GUIDANCE.min,
        maxGuidance: img.maxGuidance ?? GUIDANCE.max,
        maxSeed: SEED.max,
        maxPromptChars: img.maxPromptChars,
        schedulers: SAMPLER_CHOICES,
        samplers: samplerOptions(SAMPLER_CHOICES),
        defaults: this.#imageRules?.defaults ?? DEFAULT_IMAGE_DEFAULTS,
        fromImage,
        minStrength: STRENGTH.min,
        maxStrength: STRENGTH.max,
        defaultStrength: this.#imageRules?.defaults.strength ?? DEFAULT_IMAGE_STRENGTH,
        variations: fromImage ? VARIATIONS : [],
      },
      maxQuestionChars: MAX_CAPTION_QUESTION_CHARS,
      captionDetails: CAPTION_DETAILS,
    };
  }

  /**
   * Which commands can run here: those whose model the config names. Answered from the config, not
   * from the models loaded so far: while hearth starts none is loaded yet, and a command for a
   * configured model is stored and answered once it is up (readiness).
   */
  available(): { ask: boolean; imagine: boolean; caption: boolean } {
    const { chat, image, caption } = this.#config.models;
    return { ask: chat !== undefined, imagine: image !== undefined, caption: caption !== undefined };
  }

  /**
   * /ask: queues a chat turn in the invocation's conversation. The prompt carries the conversation's
   * history (trimmed to the context by the runner) and, for attached images, their descriptions.
   */
  async ask(input: AskInput, inv: Invocation, opts: { signal?: AbortSignal } = {}): Promise<Result<JobRecord>> {
    const question = parseAskQuestion(input.prompt);
    if (!question.ok) return question;
    const prompt = question.value;
    const chat = this.#config.models.chat;
    if (!chat) return err({ code: 'MODEL_MISSING', message: 'no chat model is configured (models.chat.path)', facts: { given: 'chat' } });

    const conversationId = inv.conversationId;
    const system = (inv.channelId && chat.channelSystemPrompts[inv.channelId]) || chat.systemPrompt;
    const adapter = input.adapter ?? (inv.channelId ? chat.channelAdapters[inv.channelId] : undefined);
    if (adapter !== undefined && !Object.hasOwn(chat.adapters, adapter)) {
      const names = Object.keys(chat.adapters);
      const allowed = names.length === 0 ? 'none are configured (models.chat.adapters)' : names.join(', ');
      return refuse('INVALID_INPUT', 'adapter', `there is no adapter ${JSON.stringify(adapter)}; the adapters are: ${allowed}`, adapter, names);
    }
    const history: ChatMessage[] = [];
    // History first: describing this message's images adds them to it, and they are added below once.
    if (conversationId) {
      for (const t of this.#store.getTurns(conversationId, KEPT_TURNS)) {
        if (t.role === 'user' || t.role === 'assistant') history.push({ role: t.role, content: t.content });
        else if (t.role === 'context') history.push({ role: 'user', content: t.content });
      }
    }
    // Workspace messages the asker can read go last before the question, and are listed under the answer.
    const found = await this.#knowledge?.retrieve(prompt, inv, opts);
    if (found) history.push({ role: 'user', content: found.context });
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
    const payload = buildChatPayload({
      system, history, question: prompt, maxTokens: chat.maxTokens, awaiting, sources: found?.sources ?? [],
      ...(conversationId ? { conversationId } : {}),
      ...(adapter !== undefined ? { adapter } : {}),
    });
    if (!payload.ok) {
      for (const id of awaiting) this.#engine.cancel(id, { userId: inv.userId, admin: true });
      return payload;
    }
    const submitted = this.#engine.submit(
      {
        kind: 'chat',
        model: 'chat',
        userId: inv.userId,
        payload: chatJson(payload.value),
        origin: inv.origin,
        weight: inv.weight,
        estimatedSteps: chatJobSteps(chat.maxTokens, chat.tokensPerStep),
        ...(conversationId ? { conversationId } : {}),
      },
      { admin: inv.admin },
    );
    // A refused question takes its image descriptions with it.
    if (!submitted.ok) for (const id of awaiting) this.#engine.cancel(id, { userId: inv.userId, admin: true });
    return submitted;
  }

  /** /imagine, text-to-image: see {@link ImageCommands.imagine}. */
  imagine(input: ImageOptionsInput, inv: Invocation): Result<JobRecord> {
    return this.#images.imagine(input, inv);
  }

  /** /imagine as every face runs it, with or without an image to start from: see {@link ImageCommands.imagineFrom}. */
  imagineFrom(input: ImagineInput, inv: Invocation, opts: { signal?: AbortSignal } = {}): Promise<Result<JobRecord>> {
    return this.#images.imagineFrom(input, inv, opts);
  }

  /** /imagine's options checked, nothing queued: see {@link ImageCommands.checkImagine}. */
  checkImagine(input: ImagineInput): Result<null> {
    return this.#images.checkImagine(input);
  }

  /** Reroll: a finished image's options with a new seed; see {@link ImageCommands.reroll}. */
  reroll(jobId: string, inv: Invocation): Result<JobRecord> {
    return this.#images.reroll(jobId, inv);
  }

  /** Vary: a variation of a finished image at a strength (0–1); see {@link ImageCommands.vary}. */
  vary(jobId: string, strength: number, inv: Invocation): Result<JobRecord> {
    return this.#images.vary(jobId, strength, inv);
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
    // The options are checked before anything is downloaded.
    const options = parseCaptionOptions({ question: input.question, detail: input.detail });
    if (!options.ok) return options;
    const bytes = await this.#imageBytes(input, opts);
    if (!bytes.ok) return bytes;
    const payload = buildCaptionPayload({ bytes: bytes.value.bytes, declaredType: bytes.value.contentType }, options.value, {}, { forChat });
    if (!payload.ok) return payload;
    return this.#engine.submit(
      { kind: 'caption', model: 'caption', userId: inv.userId, payload: { ...payload.value }, origin: inv.origin, weight: inv.weight, estimatedSteps: 1 },
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

  /**
   * /forget: clears the conversation's memory, and removes the images the person uploaded from every
   * job of theirs that has ended (hearth already drops them when a job ends; this also clears what an
   * earlier version kept). Images of jobs still queued or running stay until those jobs end: their
   * runners need them. Returns how many turns were forgotten and how many jobs held images.
   */
  forget(inv: Invocation): Result<{ turns: number; images: number }> {
    if (!inv.conversationId) return invalid('there is no conversation here to forget', { given: 'none' });
    const turns = this.#store.clearConversation(inv.conversationId);
    return ok({ turns, images: this.#store.forgetUploads(inv.userId) });
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
      gpu: this.#gpu?.telemetry() ?? telemetryOff(),
      workers: this.#cluster?.workers() ?? null,
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

function invalid(message: string, facts: FactsOf<'INVALID_INPUT'>): Result<never> {
  return err<ErrorInfo>({ code: 'INVALID_INPUT', message, facts });
}
