/**
 * Totals of the runners' counters across GPU worker restarts. A worker reports each runner's
 * counters as they stand in that process; a new worker starts again from 0, so the totals add what
 * each report grew by, and a report lower than the last one (a new worker's) counts from 0. The
 * totals therefore never go down, as Prometheus counters must not.
 */
import type { ConversationCacheCounters, DraftCounters, RunnerCounters } from '../runner.js';

const CACHE_KEYS = ['hits', 'misses', 'evictions', 'reusedTokens', 'evaluatedTokens'] as const satisfies ReadonlyArray<keyof ConversationCacheCounters>;
const DRAFT_KEYS = ['accepted', 'rejected'] as const satisfies ReadonlyArray<keyof DraftCounters>;
/** Each group of counters and its keys; a group restarts from 0 on its own (a report may lack one). */
const GROUPS = { conversationCache: CACHE_KEYS, draft: DRAFT_KEYS } as const;
type Group = keyof typeof GROUPS;
type Counts = Record<string, number>;

export function emptyCacheCounters(): ConversationCacheCounters {
  return { hits: 0, misses: 0, evictions: 0, reusedTokens: 0, evaluatedTokens: 0 };
}

function zeros(keys: readonly string[]): Counts {
  return Object.fromEntries(keys.map((k) => [k, 0]));
}

export class CounterTotals {
  /** Last report and totals by `${group}\u0000${model}`. */
  readonly #last = new Map<string, Counts>();
  readonly #totals = new Map<string, Map<Group, Counts>>();

  /** A runner's counters as its worker reported them. */
  report(model: string, counters: RunnerCounters): void {
    for (const group of Object.keys(GROUPS) as Group[]) {
      const now = counters[group] as Counts | undefined;
      if (!now) continue;
      const keys = GROUPS[group];
      const lastKey = `${group}\u0000${model}`;
      const last = this.#last.get(lastKey) ?? zeros(keys);
      const byGroup = this.#totals.get(model) ?? new Map<Group, Counts>();
      const total = byGroup.get(group) ?? zeros(keys);
      // A count that went down is a new worker's: everything it reports is new.
      const restarted = keys.some((k) => (now[k] ?? 0) < (last[k] ?? 0));
      for (const k of keys) total[k] = (total[k] ?? 0) + (restarted ? (now[k] ?? 0) : (now[k] ?? 0) - (last[k] ?? 0));
      byGroup.set(group, total);
      this.#totals.set(model, byGroup);
      this.#last.set(lastKey, Object.fromEntries(keys.map((k) => [k, now[k] ?? 0])));
    }
  }

  /** The worker was replaced: its next reports count from 0. */
  restarted(): void {
    this.#last.clear();
  }

  /** The totals by model (copies). */
  snapshot(): Record<string, RunnerCounters> {
    const out: Record<string, RunnerCounters> = {};
    for (const [model, byGroup] of this.#totals) {
      const counters: RunnerCounters = {};
      const cache = byGroup.get('conversationCache');
      if (cache) counters.conversationCache = { ...emptyCacheCounters(), ...cache };
      const draft = byGroup.get('draft');
      if (draft) counters.draft = { accepted: draft.accepted ?? 0, rejected: draft.rejected ?? 0 };
      out[model] = counters;
    }
    return out;
  }
}
