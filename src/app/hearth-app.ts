import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AdapterContext, AdapterFactory, PlatformAdapter } from '../bots/adapter.js';
import { ConversationRecorder } from '../commands/conversation-recorder.js';
import { ImageContextLinker } from '../commands/image-context.js';
import { HearthCommands, type HearthCommandsOptions } from '../commands/hearth-commands.js';
import { readImageModelProfile } from '../runners/image/model-profile.js';
import type { HearthConfig } from '../config/schema.js';
import { systemClock, type Clock } from '../engine/clock.js';
import { Engine } from '../engine/engine.js';
import type { Executor } from '../engine/executor/executor.js';
import { VirtualTimeScheduler } from '../engine/scheduler/virtual-time-scheduler.js';
import { SqliteStore } from '../engine/store/sqlite-store.js';
import { GpuMonitor, type CommandRunner } from '../monitoring/gpu-monitor.js';
import { HearthMetrics } from '../monitoring/metrics.js';
import type { ClusterStatusSource } from '../monitoring/cluster-status.js';
import { Upkeep, type UpkeepReport } from './upkeep.js';
import type { JobStore } from '../engine/store/job-store.js';
import type { JobKind } from '../engine/types.js';
import { KnowledgeBase } from '../knowledge/knowledge-base.js';
import { MessageIndex } from '../knowledge/message-index.js';
import { semanticKnowledge } from '../knowledge/semantic-setup.js';
import type { KnowledgeEmbedder } from '../knowledge/embedder.js';
import type { VectorIndex } from '../knowledge/vector-index.js';
import { scrubSecrets, type Logger } from '../util/log.js';

export interface HearthAppOptions {
  config: HearthConfig;
  log: Logger;
  /** Where GPU work runs (default: the supervised GPU worker process with the built-in runners). */
  executor: Executor;
  vramBudgetBytes: number;
  adapters: AdapterFactory[];
  clock?: Clock;
  /** A store to use instead of `dataDir/hearth.db` (tests). */
  store?: JobStore;
  fetch?: typeof fetch;
  headersForHost?: HearthCommandsOptions['headersForHost'];
  /** How nvidia-smi is run and which processes are hearth's (tests: a fake); default the real tool on PATH. */
  monitoring?: { run?: CommandRunner; isOwnProcess?: (pid: number) => boolean };
  /** The cluster's workers, when `executor` runs GPU work on them (this hearth is a coordinator). */
  cluster?: ClusterStatusSource;
}

/**
 * The composition root: store, engine, commands and the platform adapters, started in the order that
 * loses nothing (adapters listen before the engine recovers jobs, so owners hear about them) and
 * closed in the reverse order, every step attempted even when one fails.
 */
export class HearthApp {
  readonly engine: Engine;
  readonly store: JobStore;
  readonly commands: HearthCommands;
  readonly adapters: PlatformAdapter[];
  /** GPU telemetry from nvidia-smi, every `monitoring.gpuPollSeconds`. */
  readonly gpu: GpuMonitor;
  /** The Prometheus metrics (served at /metrics by the web console). */
  readonly metrics: HearthMetrics;
  readonly #upkeep: Upkeep | undefined;
  readonly #embedder: KnowledgeEmbedder | undefined;
  /** Workspace knowledge (indexed channels, answers with sources), when the config names channels. */
  readonly knowledge: KnowledgeBase | undefined;
  readonly #recorder: ConversationRecorder;
  readonly #linker: ImageContextLinker;
  readonly #log: Logger;
  readonly #ownsStore: boolean;
  #closing: Promise<void> | undefined;

  constructor(options: HearthAppOptions) {
    const { config, log } = options;
    const clock = options.clock ?? systemClock;
    this.#log = log;
    this.#ownsStore = !options.store;
    if (options.store) this.store = options.store;
    else {
      privateDataDir(config.dataDir, log);
      this.store = SqliteStore.open(join(config.dataDir, 'hearth.db'));
    }
    this.engine = new Engine({
      store: this.store,
      executor: options.executor,
      clock,
      vramBudgetBytes: options.vramBudgetBytes,
      policy: new VirtualTimeScheduler({ fairnessLagSeconds: config.models.fairnessLagSeconds }),
      // What the config names: commands for these are stored and answered once the worker is up,
      // never refused because hearth is still starting.
      declaredModels: declaredModels(config),
      limits: {
        maxQueuedPerUser: config.limits.maxQueuedPerUser,
        dailyGpuSeconds: config.limits.dailyGpuSeconds ?? null,
      },
      log: {
        info: (m) => log.info(m),
        warn: (m) => log.warn(m),
        error: (m) => log.error(m),
      },
      onListenerError: (e, event) => this.reportError(e, `event listener (${event.event.type})`),
    });
    this.#recorder = new ConversationRecorder(this.engine, this.store, clock);
    this.#linker = new ImageContextLinker(this.engine, this.store, clock);
    this.gpu = new GpuMonitor({
      pollSeconds: config.monitoring.gpuPollSeconds,
      clock,
      log: { info: (m) => log.info(m), warn: (m) => log.warn(m) },
      onError: (e) => this.reportError(e, 'GPU telemetry listener'),
      ...(options.monitoring?.run ? { run: options.monitoring.run } : {}),
      ...(options.monitoring?.isOwnProcess ? { isOwnProcess: options.monitoring.isOwnProcess } : {}),
    });
    this.metrics = new HearthMetrics({
      jobs: this.engine,
      snapshot: () => this.engine.snapshot(),
      counters: () => this.engine.runnerCounters(),
      gpu: this.gpu,
      ...(options.cluster ? { cluster: options.cluster } : {}),
      clock,
      onError: (e) => this.reportError(e, 'metrics'),
    });
    this.#upkeep =
      this.store instanceof SqliteStore
        ? new Upkeep({
            store: this.store.retention,
            days: config.retention.days,
            clock,
            whenIdle: () => this.engine.whenIdle(),
            log: { info: (m) => log.info(m) },
            onError: (e) => this.reportError(e, 'upkeep'),
          })
        : undefined;
    const commandOptions: HearthCommandsOptions = { engine: this.engine, store: this.store, config, clock, gpu: this.gpu };
    if (options.cluster) commandOptions.cluster = options.cluster;
    // The image model's native size and kind, from its folder's small configs (none on a coordinator without it).
    const imageModel = config.models.image ? readImageModelProfile(config.models.image.dir) : undefined;
    if (imageModel) commandOptions.imageModel = imageModel;
    if (options.fetch) commandOptions.fetch = options.fetch;
    if (options.headersForHost) commandOptions.headersForHost = options.headersForHost;
    const knowledge = knowledgeOf(config, this.store, this.engine, (e, where) => this.reportError(e, where));
    this.knowledge = knowledge?.base;
    this.#embedder = knowledge?.embedder;
    if (this.knowledge) {
      commandOptions.knowledge = this.knowledge;
      commandOptions.knowledgeIndex = this.knowledge.index;
      if (knowledge?.vectors) commandOptions.knowledgeVectors = knowledge.vectors;
    }
    this.commands = new HearthCommands(commandOptions);
    const ctx: AdapterContext = {
      commands: this.commands,
      jobs: this.engine,
      config,
      clock,
      log,
      monitoring: { gpu: this.gpu, metrics: this.metrics },
      reportError: (e, where) => this.reportError(e, where),
      ...(this.knowledge ? { knowledge: this.knowledge } : {}),
    };
    this.adapters = options.adapters.map((make) => make(ctx));
  }

  /** Every handler error comes here: logged once with where it happened, secrets scrubbed. */
  reportError(error: unknown, where: string): void {
    const message = error instanceof Error ? error.message : String(error);
    const stack = error instanceof Error && error.stack ? scrubSecrets(error.stack) : undefined;
    this.#log.error({ where, err: { message: scrubSecrets(message), stack } }, `error in ${where}: ${scrubSecrets(message)}`);
  }

  async start(opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.gpu.start();
    for (const a of this.adapters) await a.start(opts);
    await this.engine.start(opts);
    this.#upkeep?.start();
    this.#embedder?.start();
  }

  /** Runs the upkeep now (pruning; compaction at the next quiet moment), as it runs at start and daily. */
  upkeep(): Promise<UpkeepReport | undefined> {
    return this.#upkeep?.run() ?? Promise.resolve(undefined);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const errors: unknown[] = [];
      this.#upkeep?.dispose();
      this.gpu.dispose();
      await this.#embedder?.close();
      for (const a of [...this.adapters].reverse()) {
        try {
          await a.close();
        } catch (e) {
          errors.push(e);
        }
      }
      try {
        await this.engine.close();
      } catch (e) {
        errors.push(e);
      }
      this.#recorder.dispose();
      this.#linker.dispose();
      this.metrics.dispose();
      if (this.#ownsStore) {
        try {
          this.store.close();
        } catch (e) {
          errors.push(e);
        }
      }
      if (errors.length > 0) throw new AggregateError(errors, 'hearth did not close cleanly');
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * dataDir holds people's prompts, answers and images: it is created 0700 (hearth's files in it are
 * 0600, see SqliteStore.open). An existing folder that others can read is left as it is (it may be
 * shared on purpose, or not hearth's own) and a warning says how to close it.
 */
function privateDataDir(dir: string, log: Logger): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    log.warn(
      { dataDir: dir, mode: mode.toString(8) },
      `dataDir ${dir} can be read by other users of this machine (mode ${mode.toString(8)}); run \`chmod 700 ${dir}\` to keep it private`,
    );
  }
}

/** The knowledge base over the jobs database, when channels are to be indexed (and the store is SQLite). */
function knowledgeOf(
  config: HearthConfig,
  store: JobStore,
  engine: Engine,
  report: (e: unknown, where: string) => void,
): { base: KnowledgeBase; embedder?: KnowledgeEmbedder; vectors?: VectorIndex } | undefined {
  const k = config.knowledge;
  if (k.slackChannels.length === 0 && k.discordChannels.length === 0) return undefined;
  if (!(store instanceof SqliteStore)) return undefined;
  const index = new MessageIndex(store.database);
  const semantic = config.models.embedding ? semanticKnowledge({ db: store.database, index, jobs: engine, embedding: config.models.embedding, report }) : undefined;
  const base = new KnowledgeBase({
    index,
    channels: { slack: k.slackChannels, discord: k.discordChannels },
    console: { slack: k.console.slackChannels, discord: k.console.discordChannels },
    topK: k.topK,
    report,
    ...(semantic ? { semantic: semantic.search } : {}),
  });
  return { base, ...(semantic ? { embedder: semantic.embedder, vectors: semantic.vectors } : {}) };
}

function declaredModels(config: HearthConfig): Array<{ model: string; kind: JobKind }> {
  const out: Array<{ model: string; kind: JobKind }> = [];
  if (config.models.chat) out.push({ model: 'chat', kind: 'chat' });
  if (config.models.image) out.push({ model: 'image', kind: 'image' });
  if (config.models.caption) out.push({ model: 'caption', kind: 'caption' });
  if (config.models.embedding) out.push({ model: 'embedding', kind: 'embed' });
  return out;
}
