/**
 * Which models are in VRAM, within a budget. Models that fit together stay loaded; when one more does
 * not fit, the least recently used are evicted until it does. A model bigger than the whole budget is
 * still loaded, alone (llama.cpp can offload part of it to the CPU); `hearth doctor` warns about it.
 */
export interface ResidencyPlan {
  /** Models to unload first, least recently used first. */
  evict: string[];
  /** Whether the model must be loaded. */
  load: boolean;
}

export class ResidencyManager {
  readonly #budget: number;
  readonly #sizes = new Map<string, number>();
  /** Loaded models, least recently used first. */
  #loaded: string[] = [];
  #swaps = 0;

  constructor(budgetBytes: number) {
    if (!(budgetBytes > 0)) throw new RangeError(`the VRAM budget must be a positive number of bytes; got ${budgetBytes}`);
    this.#budget = budgetBytes;
  }

  get budgetBytes(): number {
    return this.#budget;
  }

  /** Model loads that evicted another model. */
  get swaps(): number {
    return this.#swaps;
  }

  setSize(model: string, bytes: number): void {
    this.#sizes.set(model, Math.max(0, bytes));
  }

  sizeOf(model: string): number {
    return this.#sizes.get(model) ?? 0;
  }

  isLoaded(model: string): boolean {
    return this.#loaded.includes(model);
  }

  loaded(): readonly string[] {
    return [...this.#loaded];
  }

  usedBytes(): number {
    return this.#loaded.reduce((sum, m) => sum + this.sizeOf(m), 0);
  }

  /** True when the model is loaded or can be loaded without evicting anything. */
  fitsWithoutSwap(model: string): boolean {
    return this.isLoaded(model) || this.usedBytes() + this.sizeOf(model) <= this.#budget;
  }

  /** True when every model given fits the budget at once. */
  fitTogether(models: readonly string[]): boolean {
    return models.reduce((s, m) => s + this.sizeOf(m), 0) <= this.#budget;
  }

  plan(model: string): ResidencyPlan {
    if (this.isLoaded(model)) return { evict: [], load: false };
    const need = this.sizeOf(model);
    const evict: string[] = [];
    let used = this.usedBytes();
    for (const m of this.#loaded) {
      if (used + need <= this.#budget) break;
      evict.push(m);
      used -= this.sizeOf(m);
    }
    return { evict, load: true };
  }

  /** Records that the plan was carried out. */
  commit(model: string, plan: ResidencyPlan): void {
    if (plan.evict.length > 0) this.#swaps++;
    this.#loaded = this.#loaded.filter((m) => !plan.evict.includes(m) && m !== model);
    this.#loaded.push(model);
  }

  /** Marks a model as just used (LRU order). */
  touch(model: string): void {
    if (!this.isLoaded(model)) return;
    this.#loaded = [...this.#loaded.filter((m) => m !== model), model];
  }

  unloaded(model: string): void {
    this.#loaded = this.#loaded.filter((m) => m !== model);
  }

  /** Forgets everything (the worker died: nothing is loaded any more). */
  clear(): void {
    this.#loaded = [];
  }
}
