/**
 * The /ask runner: one GGUF model, one context with `parallel` sequences (more when more
 * conversations are cached), one sequence per running job. The engine advances jobs with `step`; the
 * jobs of one step decode together as llama.cpp batches. Idle sequences keep their conversation's
 * evaluated tokens for its next turn (SequenceCache); a long prompt is evaluated over several steps,
 * as many prompt tokens per step in all as fit `maxStepMs` at the measured speed (ChunkBudget),
 * never more than `promptTokensPerStep`. A job that names a LoRA adapter runs
 * in that adapter's own context (ContextPool), in the same steps as the others.
 */
import { resolveChatWrapper, type ChatWrapper, type Llama, type LlamaContext, type LlamaModel, type Token } from 'node-llama-cpp';
import { HearthError, type Json } from '../../engine/types.js';
import type { Runner, RunnerCounters, RunnerJob, StepOptions, StepOutput } from '../../engine/runner.js';
import { RunnerLifecycle, type LoadContext } from '../lifecycle.js';
import { checkAdapterName, ContextPool, inspectAdapter, type AdapterContextStats, type AdapterInspection, type PoolEntry } from './adapters.js';
import { countingStrategy, type BatchStats } from './batch-stats.js';
import { ChatJob, stepGrants, toChatHistory } from './chat-job.js';
import { inspectChatModel, type ChatModelInspection } from './gguf-check.js';
import { acceptanceRate, draftedSequences, emptyDraftStats, predictionsSince, type DraftStats } from './draft.js';
import { createLlama } from './llama-instance.js';
import { loadError } from './load-error.js';
import { DEFAULT_PAYLOAD_LIMITS, fitChatHistory, parseChatPayload, type ChatMessage, type ChatPayload, type FittedPrompt } from './prompt-fit.js';
import { checkSettings, DEFAULT_PROMPT_TOKENS_PER_STEP, type ChatRunnerSettings } from './chat-settings.js';
import { ChunkBudget, DEFAULT_MAX_STEP_MS } from './chunk-budget.js';
import { emptyCacheStats, SequenceCache, type ConversationCacheStats, type SequenceSource } from './sequence-cache.js';
import { StepCoordinator } from './token-gate.js';
import { estimateChatVram, fitGpuLayers, type ContextShape } from './vram.js';

export { DEFAULT_PROMPT_TOKENS_PER_STEP, type ChatRunnerSettings } from './chat-settings.js';

/** What the runner has done: llama.cpp batches, and the conversation cache. */
export interface ChatRunnerStats extends BatchStats {
  cache: ConversationCacheStats;
  /** Speculative decoding (zeros without a draft model); `acceptance` is validated / (validated + refuted). */
  draft: DraftStats & { acceptance: number | null };
  /** LoRA adapter contexts created and evicted. */
  adapterContexts: AdapterContextStats;
}

export interface ChatRunnerOptions {
  /** A Llama to use instead of creating one (tests pass a CPU one with one thread). It is not disposed by the runner. */
  llama?: Llama;
  /** Milliseconds clock the prompt chunk budget times steps with (default `performance.now`). */
  now?: () => number;
}

/**
 * Share of a prompt token in a step's cost, relative to a decoded token. Prompt evaluation is
 * batched and far cheaper per token: on the reference card llama.cpp measured 3,936 tokens/s
 * prompt processing vs 83.5 tokens/s decode (≈ 1/47).
 */
export const PROMPT_TOKEN_SHARE = 1 / 47;

/** The prompt a job gets: the kept messages, their tokens, and how many old messages were left out. */
export interface PreparedPrompt extends FittedPrompt {
  maxTokens: number;
}

interface Loaded {
  llama: Llama;
  model: LlamaModel;
  /** The base model's context (no adapter). */
  context: LlamaContext;
  chatWrapper: ChatWrapper;
  /** The base context and one per live adapter, each with its sequences. */
  pool: ContextPool;
  inspection: ChatModelInspection;
  gpuLayers: number;
}

export class ChatRunner implements Runner {
  readonly kind = 'chat' as const;
  readonly model: string;
  readonly maxBatch: number;
  private readonly settings: ChatRunnerSettings;
  private readonly injectedLlama: Llama | undefined;
  private ownLlama: Promise<Llama> | undefined;
  private inspection: ChatModelInspection | undefined;
  private adapterInspections: AdapterInspection[] = [];
  private readonly life: RunnerLifecycle<Loaded>;
  private readonly jobs = new Map<string, ChatJob>();
  private readonly coordinator = new StepCoordinator();
  private readonly batchStats: BatchStats = { batches: 0, items: 0, tokens: 0 };
  private readonly cacheStats = emptyCacheStats();
  private readonly draftStats = emptyDraftStats();
  private readonly adapterStats: AdapterContextStats = { created: 0, evicted: 0 };
  /** Prompt tokens per step, from measured speed (`maxStepMs`) within `promptTokensPerStep`. */
  private readonly chunkBudget: ChunkBudget;
  /** The context each running job's sequence belongs to. */
  private readonly jobEntries = new Map<ChatJob, PoolEntry>();
  /** Jobs begun or beginning (each holds a sequence). */
  private active = 0;
  private readonly releasing = new Set<Promise<void>>(); // jobs being ended: their slots are free once these settle

  constructor(settings: ChatRunnerSettings, options: ChatRunnerOptions = {}) {
    checkSettings(settings);
    this.settings = { ...settings };
    this.model = settings.model;
    this.maxBatch = settings.parallel;
    this.injectedLlama = options.llama;
    const maxStepMs = settings.maxStepMs ?? DEFAULT_MAX_STEP_MS;
    this.chunkBudget = new ChunkBudget({ maxStepMs, maxTokens: this.promptTokensPerStep, ...(options.now ? { now: options.now } : {}) });
    this.life = new RunnerLifecycle<Loaded>({ kind: 'chat', model: this.model, load: (ctx) => this.doLoad(ctx) });
  }

  /** Decode batches and conversation cache counters so far (for benchmarks and diagnostics). */
  stats(): ChatRunnerStats {
    const draft = { ...this.draftStats, acceptance: acceptanceRate(this.draftStats) ?? null };
    return { ...this.batchStats, cache: { ...this.cacheStats }, draft, adapterContexts: { ...this.adapterStats } };
  }

  /** The counters the worker reports to the main process (metrics, dashboard). */
  counters(): RunnerCounters {
    const draft = this.settings.draft ? { draft: { accepted: this.draftStats.validated, rejected: this.draftStats.refuted } } : {};
    return { conversationCache: { ...this.cacheStats }, ...draft };
  }

  private get keepConversations(): number {
    return this.settings.cacheConversations ?? this.settings.parallel;
  }

  private get promptTokensPerStep(): number {
    return this.settings.promptTokensPerStep ?? DEFAULT_PROMPT_TOKENS_PER_STEP;
  }

  /** Adapter contexts alive at once: `adapterContexts`, else one per adapter (at most 4). */
  private get adapterContexts(): number {
    return Math.min(Object.keys(this.settings.adapters ?? {}).length, this.settings.adapterContexts ?? 4);
  }

  /**
   * The contexts' shape: the base context has a sequence per running job, more when more
   * conversations are cached; each adapter context `parallel` sequences (counted as if all were live).
   */
  private get shape(): ContextShape {
    const shape: ContextShape = { contextSize: this.settings.contextSize, sequences: Math.max(this.settings.parallel, this.keepConversations) };
    if (this.adapterContexts === 0) return shape;
    const weightBytes = this.adapterInspections.reduce((sum, a) => sum + a.fileSize, 0);
    return { ...shape, adapters: { contexts: this.adapterContexts, sequences: this.settings.parallel, weightBytes } };
  }

  /** Tokens one sequence holds once loaded (llama.cpp may round the configured size up). */
  get contextSize(): number {
    return this.life.peek()?.context.contextSize ?? this.settings.contextSize;
  }

  private llama(): Promise<Llama> {
    if (this.injectedLlama) return Promise.resolve(this.injectedLlama);
    if (!this.ownLlama) {
      // Created once, shared by vramBytes() and every load; it lives until dispose, not unload.
      const created = createLlama({ gpu: this.settings.gpu, threads: this.settings.threads });
      this.ownLlama = created;
      this.life.onDispose('llama.cpp', async () => {
        const own = await created.catch(() => undefined);
        if (own && !own.disposed) await own.dispose();
      });
      // A failed start is not cached: the next call tries again (its dispose step then finds nothing).
      created.catch(() => {
        if (this.ownLlama === created) this.ownLlama = undefined;
      });
    }
    return this.ownLlama;
  }

  private async inspect(signal?: AbortSignal): Promise<ChatModelInspection> {
    if (!this.inspection) {
      const inspection = await inspectChatModel(this.settings.path, await this.llama(), signal ? { signal } : {});
      const adapters = Object.entries(this.settings.adapters ?? {});
      this.adapterInspections = await Promise.all(adapters.map(([name, a]) => inspectAdapter(name, a, inspection.architecture)));
      this.inspection = inspection;
    }
    return this.inspection;
  }

  private async resolveGpuLayers(inspection: ChatModelInspection): Promise<number> {
    const llama = await this.llama();
    const shape = this.shape;
    if (this.settings.gpu === 'cpu' || llama.gpu === false || !llama.supportsGpuOffloading) return 0;
    const budget = this.settings.vramBudgetBytes;
    if (this.settings.gpuLayers === 'auto') {
      if (budget !== undefined) return fitGpuLayers(inspection.insights, budget, shape);
      return inspection.totalLayers;
    }
    const layers = Math.min(this.settings.gpuLayers, inspection.totalLayers);
    if (budget !== undefined) {
      const estimate = estimateChatVram(inspection.insights, layers, shape);
      if (estimate > budget)
        throw new HearthError(
          'MODEL_TOO_LARGE',
          `${layers} GPU layers of ${this.settings.path} need about ${estimate} bytes of VRAM; the budget is ${budget}`,
          { path: this.settings.path, gpuLayers: layers, estimatedBytes: estimate, budgetBytes: budget },
        );
    }
    return layers;
  }

  async vramBytes(): Promise<number> {
    this.life.assertOpen();
    const shape = this.shape;
    const loaded = this.life.peek();
    if (loaded) return estimateChatVram(loaded.inspection.insights, loaded.gpuLayers, shape);
    const inspection = await this.inspect();
    return estimateChatVram(inspection.insights, await this.resolveGpuLayers(inspection), shape);
  }

  /** Loads the model and its context; concurrent calls share one load (see RunnerLifecycle). */
  async load(opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.life.load(opts);
  }

  private async doLoad({ signal, defer }: LoadContext): Promise<Loaded> {
    const llama = await this.llama();
    // Re-read the header: the file may have been replaced since an earlier vramBytes().
    this.inspection = undefined;
    const inspection = await this.inspect(signal);
    const gpuLayers = await this.resolveGpuLayers(inspection);
    let model: LlamaModel;
    try {
      model = await llama.loadModel({
        modelPath: this.settings.path,
        gpuLayers: this.settings.gpuLayers === 'auto' && this.settings.vramBudgetBytes === undefined && gpuLayers > 0 ? 'auto' : gpuLayers,
        ...(signal ? { loadSignal: signal } : {}),
      });
    } catch (error) {
      throw loadError(error, signal, this.settings.path);
    }
    defer('model', () => model.dispose());
    let context: LlamaContext;
    try {
      context = await model.createContext({
        contextSize: this.settings.contextSize,
        sequences: this.shape.sequences,
        // A step's prompt tokens and the other jobs' decodes fit one llama.cpp batch.
        batchSize: Math.max(DEFAULT_PROMPT_TOKENS_PER_STEP, this.promptTokensPerStep + this.settings.parallel),
        ...(this.settings.threads === 'auto' ? {} : { threads: this.settings.threads }),
        batching: { itemPrioritizationStrategy: countingStrategy(this.batchStats) },
        failedCreationRemedy: false,
        ...(signal ? { createSignal: signal } : {}),
      });
    } catch (error) {
      throw loadError(error, signal, this.settings.path);
    }
    defer('context', () => context.dispose());
    const sequences = new SequenceCache(await this.sequenceSource(model, context, gpuLayers, signal, defer), this.keepConversations, this.cacheStats);
    defer('sequences', () => sequences.dispose());
    const base: PoolEntry = { adapter: undefined, context, sequences, busy: 0, lastUsed: 0 };
    const pool = new ContextPool(base, (name) => this.createAdapterContext(model, context, name), this.adapterContexts, this.adapterStats);
    defer('adapter contexts', () => pool.dispose());
    // The jobs' sequences belong to these contexts: they go first, whenever the contexts go.
    defer('jobs', () => this.disposeJobs());
    // Never null with a model: without a usable template node-llama-cpp falls back to its GeneralChatWrapper.
    const chatWrapper = resolveChatWrapper(model);
    return { llama, model, context, chatWrapper, pool, inspection, gpuLayers: model.gpuLayers };
  }

  /** A context with adapter `name` applied, shaped as the base one (no draft model: it drafts for the base context). */
  private async createAdapterContext(model: LlamaModel, base: LlamaContext, name: string): Promise<PoolEntry> {
    const adapter = this.settings.adapters?.[name] as { path: string; scale: number };
    let context: LlamaContext;
    try {
      context = await model.createContext({
        contextSize: this.settings.contextSize,
        sequences: this.settings.parallel,
        batchSize: base.batchSize,
        ...(this.settings.threads === 'auto' ? {} : { threads: this.settings.threads }),
        batching: { itemPrioritizationStrategy: countingStrategy(this.batchStats) },
        lora: { adapters: [{ filePath: adapter.path, scale: adapter.scale }] },
        failedCreationRemedy: false,
      });
    } catch (error) {
      throw loadError(error, undefined, adapter.path);
    }
    const sequences = new SequenceCache(context, Math.min(this.keepConversations, this.settings.parallel), this.cacheStats);
    return { adapter: name, context, sequences, busy: 0, lastUsed: 0 };
  }

  /** The context's sequences; with a draft model, each drafting with a sequence of the draft model's own context. */
  private async sequenceSource(model: LlamaModel, context: LlamaContext, gpuLayers: number, signal: AbortSignal, defer: LoadContext['defer']): Promise<SequenceSource> {
    const draft = this.settings.draft;
    if (!draft) return context;
    let draftContext: LlamaContext;
    try {
      const draftModel = await model.llama.loadModel({ modelPath: draft.path, gpuLayers: gpuLayers > 0 ? 'auto' : 0, loadSignal: signal });
      defer('draft model', () => draftModel.dispose());
      draftContext = await draftModel.createContext({
        contextSize: this.settings.contextSize,
        sequences: this.shape.sequences,
        batchSize: context.batchSize,
        ...(this.settings.threads === 'auto' ? {} : { threads: this.settings.threads }),
        failedCreationRemedy: false,
        createSignal: signal,
      });
    } catch (error) {
      throw loadError(error, signal, draft.path);
    }
    defer('draft context', () => draftContext.dispose());
    return draftedSequences(context, draftContext, draft);
  }

  /** Frees the jobs, the context and the model (waits for a load in flight). */
  async unload(): Promise<void> {
    await this.life.unload();
  }

  private async disposeJobs(): Promise<void> {
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    await Promise.all(jobs.map((job) => this.release(job)));
  }

  /** Stops a job and gives its sequence back to its context's cache (freed if the job failed). */
  private async release(job: ChatJob): Promise<void> {
    const entry = this.jobEntries.get(job);
    this.jobEntries.delete(job);
    try {
      await job.dispose();
    } finally {
      this.active--;
      const drafted = predictionsSince(job.sequence, job.predictionsAtStart);
      this.draftStats.validated += drafted.validated;
      this.draftStats.refuted += drafted.refuted;
      if (entry) {
        await entry.sequences.give(job.sequence, job.conversationId, job.failure === undefined);
        this.life.peek()?.pool.release(entry);
      }
    }
  }

  /**
   * Validates a chat payload and fits it into the context, as `begin` will: which messages are kept
   * and how many tokens the prompt takes. Throws INVALID_INPUT or PROMPT_TOO_LONG.
   */
  preparePrompt(payload: Json): PreparedPrompt {
    const loaded = this.life.require();
    const { maxTokens, fitted } = this.prepare(loaded, payload);
    return { ...fitted, maxTokens };
  }

  /** The prompt's tokens exactly as LlamaChat renders and tokenizes them. */
  private promptTokens(loaded: Loaded, messages: readonly ChatMessage[]): Token[] {
    return loaded.chatWrapper.generateContextState({ chatHistory: toChatHistory(messages) }).contextText.tokenize(loaded.model.tokenizer);
  }

  private prepare(loaded: Loaded, raw: Json): { payload: ChatPayload; maxTokens: number; fitted: FittedPrompt } {
    const payload = parseChatPayload(raw, { maxTokens: this.settings.maxTokens, ...DEFAULT_PAYLOAD_LIMITS });
    const maxTokens = payload.maxTokens ?? this.settings.maxTokens;
    const { model, context } = loaded;
    const fitted = fitChatHistory(payload.messages, {
      contextSize: context.contextSize,
      maxTokens,
      countPromptTokens: (messages: readonly ChatMessage[]) => this.promptTokens(loaded, messages).length,
      countTextTokens: (text: string) => model.tokenize(text).length,
    });
    return { payload, maxTokens, fitted };
  }

  async begin(job: RunnerJob, opts: { signal?: AbortSignal } = {}): Promise<{ steps: number }> {
    const loaded = await this.life.use(opts.signal);
    if (this.jobs.has(job.id)) throw new HearthError('RUNNER_FAILED', `job ${job.id} has already begun`, { jobId: job.id });
    const { payload, maxTokens, fitted } = this.prepare(loaded, job.payload);
    const { chatWrapper, pool } = loaded;
    const adapter = payload.adapter;
    checkAdapterName(adapter, this.settings.adapters ?? {});
    // A slot whose job is being ended is free in a moment: wait for it rather than refuse.
    while (this.active >= this.settings.parallel && this.releasing.size > 0) await Promise.all([...this.releasing]);
    if (this.active >= this.settings.parallel)
      throw new HearthError(
        'RUNNER_FAILED',
        `all ${this.settings.parallel} sequences of ${this.model} are in use; at most maxBatch (${this.maxBatch}) chat jobs may run at once`,
        { parallel: this.settings.parallel },
      );
    const tokens = this.promptTokens(loaded, fitted.messages);
    // Counted before the adapter's context may have to be created, so concurrent begins keep the bound.
    this.active++;
    let entry: PoolEntry;
    try {
      entry = await pool.acquire(adapter);
    } catch (error) {
      this.active--;
      throw error;
    }
    const { sequence } = entry.sequences.take(payload.conversationId);
    let chatJob: ChatJob;
    try {
      // Keep what the sequence holds of this prompt (all of it but the last token, which must be
      // evaluated to answer), erase the rest.
      await sequence.adaptStateToTokens(tokens.slice(0, -1), false);
      const cachedTokens = sequence.nextTokenIndex;
      this.cacheStats.reusedTokens += cachedTokens;
      this.cacheStats.evaluatedTokens += tokens.length - cachedTokens;
      chatJob = new ChatJob(
        job.id,
        sequence,
        chatWrapper,
        this.coordinator.createGate(),
        fitted.messages,
        {
          maxTokens,
          temperature: payload.temperature ?? this.settings.temperature,
          topP: payload.topP ?? this.settings.topP,
          repeatPenalty: payload.repeatPenalty ?? this.settings.repeatPenalty,
        },
        { tokens, cachedTokens, tokensPerStep: this.promptTokensPerStep },
        fitted.dropped,
        payload.conversationId,
      );
    } catch (error) {
      this.active--;
      await entry.sequences.give(sequence, undefined, false);
      pool.release(entry);
      throw error;
    }
    this.jobs.set(job.id, chatJob);
    this.jobEntries.set(chatJob, entry);
    const chunkSteps = Math.ceil((chatJob.prefillEnd - chatJob.cachedTokens) / this.promptTokensPerStep);
    return { steps: chunkSteps + 1 + Math.ceil(maxTokens / this.settings.tokensPerStep) };
  }

  async step(jobIds: string[], opts: StepOptions): Promise<StepOutput[]> {
    // Not loaded (or disposed) rejects the whole step; jobs unknown to this runner fail one by one.
    await this.life.use(opts.signal);
    if (jobIds.length > this.maxBatch)
      throw new HearthError('RUNNER_FAILED', `a step takes at most ${this.maxBatch} chat jobs; got ${jobIds.length}`, {
        max: this.maxBatch,
        given: jobIds.length,
      });
    const outputs = new Map<string, StepOutput>();
    const running: ChatJob[] = [];
    const stepJobs = new Map<string, ChatJob>();
    for (const id of jobIds) {
      const job = this.jobs.get(id);
      if (job) stepJobs.set(id, job);
      if (!job) outputs.set(id, this.life.jobNotFound(id));
      else if (!job.done) running.push(job);
    }
    const before = new Map(running.map((job) => [job, { ...job.work }]));
    for (const job of running) job.onText = (text) => opts.emit(job.id, { type: 'token', text });
    const timed = this.chunkBudget.startStep();
    try {
      await this.coordinator.run(stepGrants(running, this.chunkBudget.tokens(), this.settings.tokensPerStep), opts.signal);
    } finally {
      for (const job of running) job.onText = undefined;
      timed(running.reduce((sum, job) => sum + job.work.promptTokens - (before.get(job)?.promptTokens ?? 0), 0));
    }
    return jobIds.map((id) => {
      const known = outputs.get(id);
      if (known) return known;
      // A job ended during the step is gone from `jobs` but still reports (as cancelled).
      const job = stepJobs.get(id) as ChatJob;
      const from = before.get(job) ?? job.work;
      const prompt = job.work.promptTokens - from.promptTokens;
      const out: StepOutput = { jobId: id, share: job.work.generated - from.generated + prompt * PROMPT_TOKEN_SHARE };
      if (job.failure) out.failed = job.failure;
      else if (job.outcome)
        out.done = {
          ...job.outcome,
          meta: {
            promptTokens: job.promptTokens,
            cachedTokens: job.cachedTokens,
            droppedMessages: job.droppedMessages,
            generatedTokens: job.work.generated,
            promptChunks: job.chunks,
          },
        };
      return out;
    });
  }

  async end(jobId: string): Promise<void> {
    this.life.assertOpen();
    const job = this.jobs.get(jobId);
    if (!job) return;
    this.jobs.delete(jobId);
    const loaded = this.life.peek();
    if (loaded) {
      const releasing: Promise<void> = this.release(job).finally(() => this.releasing.delete(releasing));
      this.releasing.add(releasing);
      await releasing;
    }
    else {
      this.jobEntries.delete(job);
      await job.dispose();
    }
  }

  /** Frees everything, the llama.cpp instance it created included; every later call rejects SHUTTING_DOWN. Safe twice. */
  async dispose(): Promise<void> {
    this.inspection = undefined;
    await this.life.dispose();
  }

  /** Same as `dispose()`, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
