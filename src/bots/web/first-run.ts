/**
 * The console's first run: for the models the config does not name, the recommended defaults with
 * their sizes (asked of the hub first), then downloaded in the background while the page polls
 * `GET /api/setup` for progress. Each model is recorded in dataDir/models/defaults.json when complete,
 * so the next start uses it with no config.
 */
import { resolveVramBudget, type VramBudget } from '../../app/vram.js';
import { DEFAULT_MODELS, notWanted, planDefaults, pullDefaults, type DefaultsPlan } from '../../cli/defaults.js';
import { hubEndpoint } from '../../cli/hub-download.js';
import type { DefaultKind } from '../../config/load.js';
import type { HearthConfig } from '../../config/schema.js';
import type { Json } from '../../engine/types.js';

export interface FirstRunOptions {
  /** The hub to download from (default: $HF_ENDPOINT or huggingface.co). */
  endpoint?: string;
  budget?: () => VramBudget;
}

type State = 'idle' | 'planning' | 'offered' | 'downloading' | 'done' | 'failed';

export class FirstRun {
  readonly #config: HearthConfig;
  readonly #endpoint: string;
  readonly #budget: () => VramBudget;
  readonly #stop = new AbortController();
  #state: State = 'idle';
  #plan: DefaultsPlan | undefined;
  #done = new Map<DefaultKind, number>();
  #error: string | undefined;
  #work: Promise<void> | undefined;

  constructor(config: HearthConfig, opts: FirstRunOptions = {}) {
    this.#config = config;
    this.#endpoint = hubEndpoint(opts.endpoint);
    this.#budget = opts.budget ?? (() => resolveVramBudget(config.models.vramBudgetMB));
  }

  /** The kinds of model the config does not name (and wants: the embedding model only with knowledge channels). */
  missing(): DefaultKind[] {
    return DEFAULT_MODELS.filter((m) => !this.#config.models[m.kind] && notWanted(m, this.#config) === undefined).map((m) => m.kind);
  }

  status(): Json {
    const plan = this.#plan;
    return {
      state: this.#state,
      missing: this.missing(),
      hub: new URL(this.#endpoint).host,
      offered: plan
        ? plan.offered.map((p) => ({ kind: p.model.kind, name: p.model.name, source: `hf:${p.model.repo}`, bytes: p.bytes, done: this.#done.get(p.model.kind) ?? 0 }))
        : DEFAULT_MODELS.filter((m) => this.missing().includes(m.kind)).map((m) => ({ kind: m.kind, name: m.name, source: `hf:${m.repo}`, approxBytes: m.approxBytes, gpuOnly: m.gpuOnly })),
      skipped: plan ? plan.skipped.map((s) => ({ kind: s.model.kind, name: s.model.name, why: s.why })) : [],
      bytes: plan?.bytes ?? null,
      error: this.#error ?? null,
    };
  }

  /** Asks the hub for the sizes (once; again after a failure). */
  plan(): Json {
    if (this.#state === 'idle' || this.#state === 'failed') this.#run(false);
    return this.status();
  }

  /** Plans where needed, then downloads in the background. */
  pull(): Json {
    if (this.#state === 'idle' || this.#state === 'failed' || this.#state === 'offered') this.#run(true);
    return this.status();
  }

  async close(): Promise<void> {
    this.#stop.abort(new Error('the console is closing'));
    await this.#work?.catch(() => {});
  }

  #run(download: boolean): void {
    this.#error = undefined;
    const previous = this.#work ?? Promise.resolve();
    this.#work = previous.then(async () => {
      try {
        if (!this.#plan) {
          this.#state = 'planning';
          this.#plan = await planDefaults({ endpoint: this.#endpoint, kinds: this.missing(), budget: this.#budget(), signal: this.#stop.signal });
        }
        this.#state = 'offered';
        if (!download) return;
        this.#state = 'downloading';
        await pullDefaults(this.#plan, {
          dataDir: this.#config.dataDir,
          signal: this.#stop.signal,
          onProgress: (p) => this.#done.set(p.kind, p.done),
        });
        this.#state = 'done';
      } catch (e) {
        this.#state = 'failed';
        this.#error = e instanceof Error ? e.message : String(e);
      }
    });
  }
}
