/**
 * LoRA adapters for the chat model. node-llama-cpp (like llama.cpp) applies LoRA per context, not per
 * sequence, so each adapter gets a context of its own next to the base one: created when a job first
 * asks for it, kept while jobs use it, evicted least recently used when `adapterContexts` are live
 * and another is needed. The adapter's weights are loaded into the model once (node-llama-cpp keeps
 * them until the model goes).
 */
import { stat } from 'node:fs/promises';
import { readGgufFileInfo, type LlamaContext } from 'node-llama-cpp';
import { HearthError } from '../../engine/types.js';
import type { SequenceCache } from './sequence-cache.js';

/** One configured adapter (`models.chat.adapters.<name>`). */
export interface AdapterSettings {
  /** The LoRA adapter's .gguf file. */
  path: string;
  /** How much of the adapter's update is added (llama.cpp multiplies it by `adapter.lora.alpha / rank`). */
  scale: number;
}

/** What the adapter's header said; `fileSize` is its weights' memory, to a header's few bytes. */
export interface AdapterInspection {
  name: string;
  path: string;
  fileSize: number;
}

/**
 * Checks that adapter `name` is a LoRA GGUF for a model of `architecture`, as llama.cpp will
 * (general.type "adapter", adapter.type "lora", the same general.architecture), so a wrong file is a
 * MODEL_INVALID naming the config key instead of a failure inside llama.cpp.
 */
export async function inspectAdapter(name: string, adapter: AdapterSettings, architecture: string): Promise<AdapterInspection> {
  const key = `models.chat.adapters.${name}.path`;
  const path = adapter.path;
  const invalid = (message: string, expected: string, found: string) =>
    new HearthError('MODEL_INVALID', `${key} (${path}): ${message}`, { key, path, expected, found });
  let fileSize: number;
  try {
    fileSize = (await stat(path)).size;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new HearthError('MODEL_MISSING', `${key}: no LoRA adapter file at ${path} (${code})`, { key, path, found: code });
  }
  let metadata: Record<string, unknown>;
  try {
    metadata = (await readGgufFileInfo(path, { readTensorInfo: false, sourceType: 'filesystem', logWarnings: false })).metadata as Record<string, unknown>;
  } catch (error) {
    throw invalid(`expected a GGUF LoRA adapter; reading it failed: ${error instanceof Error ? error.message : String(error)}`, 'GGUF', 'unreadable');
  }
  const general = (metadata.general ?? {}) as Record<string, unknown>;
  const adapterMeta = (metadata.adapter ?? {}) as Record<string, unknown>;
  if (general.type !== 'adapter')
    throw invalid(`expected general.type "adapter" (a LoRA converted with llama.cpp's convert_lora_to_gguf.py); found ${JSON.stringify(general.type ?? null)}`, 'adapter', String(general.type));
  if (adapterMeta.type !== 'lora') throw invalid(`expected adapter.type "lora"; found ${JSON.stringify(adapterMeta.type ?? null)}`, 'lora', String(adapterMeta.type));
  if (general.architecture !== architecture)
    throw invalid(`the adapter is for "${String(general.architecture)}" models; the chat model is "${architecture}"`, architecture, String(general.architecture));
  return { name, path, fileSize };
}

/** Refuses (INVALID_INPUT, listing the names) an adapter name that `adapters` does not hold; undefined is the base model. */
export function checkAdapterName(name: string | undefined, adapters: Readonly<Record<string, AdapterSettings>>): void {
  if (name === undefined || Object.hasOwn(adapters, name)) return;
  const names = Object.keys(adapters);
  throw new HearthError(
    'INVALID_INPUT',
    names.length === 0
      ? `there is no adapter ${JSON.stringify(name)}: models.chat.adapters names none`
      : `there is no adapter ${JSON.stringify(name)}; the adapters are ${names.join(', ')}`,
    { option: 'adapter', given: name, allowed: names },
  );
}

/** A context and the sequences it keeps; one for the base model, one per live adapter. */
export interface PoolEntry {
  /** The adapter applied in this context; undefined for the base model's. */
  adapter: string | undefined;
  context: LlamaContext;
  sequences: SequenceCache;
  /** Jobs holding one of its sequences (an entry is only evicted at 0). */
  busy: number;
  lastUsed: number;
}

/** What the pool has done (counters since the runner was created). */
export interface AdapterContextStats {
  /** Adapter contexts created. */
  created: number;
  /** Adapter contexts freed to make room for another adapter's. */
  evicted: number;
}

export class ContextPool {
  private readonly live = new Map<string, PoolEntry>();
  private readonly creating = new Map<string, Promise<PoolEntry>>();
  private clock = 0;
  private disposed = false;

  /**
   * @param create makes an adapter's context (its sequences included).
   * @param maxAdapterContexts most adapter contexts alive at once.
   */
  constructor(
    readonly base: PoolEntry,
    private readonly create: (adapter: string) => Promise<PoolEntry>,
    private readonly maxAdapterContexts: number,
    private readonly stats: AdapterContextStats,
  ) {}

  /** Adapters whose contexts are alive, least recently used first (for diagnostics and tests). */
  get liveAdapters(): string[] {
    return [...this.live.values()].sort((a, b) => a.lastUsed - b.lastUsed).map((e) => e.adapter as string);
  }

  /** The context for `adapter` (the base one for undefined), held by one more job until {@link release}. */
  async acquire(adapter: string | undefined): Promise<PoolEntry> {
    if (adapter === undefined) return this.hold(this.base);
    const found = this.live.get(adapter);
    if (found) return this.hold(found);
    let pending = this.creating.get(adapter);
    if (!pending) {
      // Chosen and taken out synchronously, so two jobs never evict the same entry or overshoot the bound.
      const victim = this.victim(adapter);
      if (victim) this.live.delete(victim.adapter as string);
      pending = (async () => {
        if (victim) {
          this.stats.evicted++;
          await disposeEntry(victim);
        }
        const entry = await this.create(adapter);
        this.stats.created++;
        if (this.disposed) {
          await disposeEntry(entry);
          throw new HearthError('SHUTTING_DOWN', 'the chat runner was unloaded while an adapter context was created', {});
        }
        this.live.set(adapter, entry);
        return entry;
      })().finally(() => this.creating.delete(adapter));
      this.creating.set(adapter, pending);
    }
    return this.hold(await pending);
  }

  /** One job less on `entry`. */
  release(entry: PoolEntry): void {
    entry.busy = Math.max(0, entry.busy - 1);
    entry.lastUsed = ++this.clock;
  }

  private hold(entry: PoolEntry): PoolEntry {
    entry.busy++;
    entry.lastUsed = ++this.clock;
    return entry;
  }

  /** The idle adapter context to free before `adapter`'s is created, if the bound is reached; throws when all are busy. */
  private victim(adapter: string): PoolEntry | undefined {
    if (this.live.size + this.creating.size < this.maxAdapterContexts) return undefined;
    let lru: PoolEntry | undefined;
    for (const entry of this.live.values()) if (entry.busy === 0 && (!lru || entry.lastUsed < lru.lastUsed)) lru = entry;
    if (lru) return lru;
    const inUse = [...this.live.keys(), ...this.creating.keys()];
    throw new HearthError(
      'RUNNER_FAILED',
      `adapter ${adapter} needs a context, but all ${this.maxAdapterContexts} adapter contexts are in use (${inUse.join(', ')}); raise models.chat.adapterContexts`,
      { reason: 'adapter contexts in use', max: this.maxAdapterContexts, hint: 'raise models.chat.adapterContexts' },
    );
  }

  /** Frees the adapter contexts (the base one belongs to the runner's load). */
  async dispose(): Promise<void> {
    this.disposed = true;
    const entries = [...this.live.values()];
    this.live.clear();
    await Promise.allSettled([...this.creating.values()]);
    await Promise.all(entries.map(disposeEntry));
  }
}

async function disposeEntry(entry: PoolEntry): Promise<void> {
  await entry.sequences.dispose();
  if (!entry.context.disposed) await entry.context.dispose();
}
