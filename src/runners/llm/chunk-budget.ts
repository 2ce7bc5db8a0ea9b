/**
 * How many prompt tokens one step may evaluate, from the speed prompt evaluation was measured at.
 *
 * A fixed token bound is the wrong unit for "nobody holds the GPU for long": 512 tokens take a few
 * milliseconds on a large card and seconds on a CPU. The runner times each step that evaluated
 * prompt tokens, keeps an exponential moving average of the speed (tokens per millisecond), and
 * sizes the next step's chunks so it should last about `maxStepMs`, clamped to the config bound
 * (`promptTokensPerStep`) above and a floor below (so a slow or loaded machine still makes progress
 * and per-step overhead does not dominate). Before anything was measured the bound is used, as
 * llama.cpp's own batch size would be.
 *
 * The step's time also holds the decode of the other chats in it, so the measured prompt speed is
 * lower than the pure one: the estimate errs towards shorter steps.
 */

/** Settings of a {@link ChunkBudget}. */
export interface ChunkBudgetSettings {
  /** Target length of one step in milliseconds (`models.chat.maxStepMs`). */
  maxStepMs: number;
  /** Most prompt tokens a step may evaluate whatever the speed (`models.chat.promptTokensPerStep`). */
  maxTokens: number;
  /** Fewest prompt tokens a step is given whatever the speed (clamped to `maxTokens`). Default {@link MIN_CHUNK_TOKENS}. */
  minTokens?: number;
  /** Weight of the newest measurement in the moving average (0..1]. Default 0.3. */
  smoothing?: number;
  /** Milliseconds clock (tests pass a fake one). Default `performance.now`. */
  now?: () => number;
}

/** Default floor of a step's prompt tokens. */
export const MIN_CHUNK_TOKENS = 16;

/** Default target step length (`models.chat.maxStepMs`): short enough that a chat's next tokens are not held up visibly. */
export const DEFAULT_MAX_STEP_MS = 250;

/** Tracks prompt-evaluation speed and turns it into a per-step token budget. */
export class ChunkBudget {
  private readonly maxStepMs: number;
  private readonly maxTokens: number;
  private readonly minTokens: number;
  private readonly smoothing: number;
  private readonly now: () => number;
  /** Moving average of prompt tokens per millisecond; undefined until a step was measured. */
  private rate: number | undefined;

  constructor(settings: ChunkBudgetSettings) {
    this.maxStepMs = settings.maxStepMs;
    this.maxTokens = Math.max(1, Math.floor(settings.maxTokens));
    this.minTokens = Math.min(this.maxTokens, Math.max(1, Math.floor(settings.minTokens ?? MIN_CHUNK_TOKENS)));
    this.smoothing = settings.smoothing ?? 0.3;
    this.now = settings.now ?? (() => performance.now());
  }

  /** Starts timing a step; call the returned function with the prompt tokens the step evaluated when it ends. */
  startStep(): (promptTokens: number) => void {
    const started = this.now();
    return (promptTokens) => this.record(promptTokens, this.now() - started);
  }

  /** Prompt tokens the next step may evaluate (over all its jobs). */
  tokens(): number {
    if (this.rate === undefined) return this.maxTokens;
    const fit = Math.floor(this.rate * this.maxStepMs);
    return Math.min(this.maxTokens, Math.max(this.minTokens, fit));
  }

  /** Measured prompt speed in tokens per second; undefined before the first measured step. */
  tokensPerSecond(): number | undefined {
    return this.rate === undefined ? undefined : this.rate * 1000;
  }

  /**
   * Records a step that evaluated `promptTokens` prompt tokens in `elapsedMs`. Steps without prompt
   * tokens (decode only) say nothing about prompt speed and are ignored.
   */
  record(promptTokens: number, elapsedMs: number): void {
    if (!(promptTokens > 0) || !(elapsedMs >= 0)) return;
    // A step measured as 0 ms (coarse clock) would make the speed infinite; count it as a tenth of one.
    const rate = promptTokens / Math.max(elapsedMs, 0.1);
    this.rate = this.rate === undefined ? rate : this.rate + this.smoothing * (rate - this.rate);
  }
}
