/**
 * Totals of the runners' counters across GPU worker restarts. A worker reports each runner's
 * counters as they stand in that process; a new worker starts again from 0, so the totals add what
 * each report grew by, and a report lower than the last one (a new worker's) counts from 0. The
 * totals therefore never go down, as Prometheus counters must not.
 */
import type { ConversationCacheCounters, RunnerCounters } from '../runner.js';

const CACHE_KEYS = ['hits', 'misses', 'evictions', 'reusedTokens', 'evaluatedTokens'] as const satisfies ReadonlyArray<keyof ConversationCacheCounters>;

export function emptyCacheCounters(): ConversationCacheCounters {
  return { hits: 0, misses: 0, evictions: 0, reusedTokens: 0, evaluatedTokens: 0 };
}

export class CounterTotals {
  readonly #last = new Map<string, ConversationCacheCounters>();
  readonly #totals = new Map<string, ConversationCacheCounters>();

  /** A runner's counters as its worker reported them. */
  report(model: string, counters: RunnerCounters): void {
    const now = counters.conversationCache;
    if (!now) return;
    const last = this.#last.get(model) ?? emptyCacheCounters();
    const total = this.#totals.get(model) ?? emptyCacheCounters();
    // A count that went down is a new worker's: everything it reports is new.
    const restarted = CACHE_KEYS.some((k) => now[k] < last[k]);
    for (const k of CACHE_KEYS) total[k] += restarted ? now[k] : now[k] - last[k];
    this.#totals.set(model, total);
    this.#last.set(model, { ...now });
  }

  /** The worker was replaced: its next reports count from 0. */
  restarted(): void {
    this.#last.clear();
  }

  /** The totals by model (copies). */
  snapshot(): Record<string, RunnerCounters> {
    const out: Record<string, RunnerCounters> = {};
    for (const [model, total] of this.#totals) out[model] = { conversationCache: { ...total } };
    return out;
  }
}
