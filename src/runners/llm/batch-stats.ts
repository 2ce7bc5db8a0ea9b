/**
 * A batch prioritization strategy for LlamaContext that also counts what it batches, so the bench
 * (and anyone curious) can see how many sequences each llama.cpp decode carried.
 */
import type { BatchItem, PrioritizedBatchItem } from 'node-llama-cpp';

export interface BatchStats {
  /** llama.cpp decode calls. */
  batches: number;
  /** Sequence items over all batches (batches × sequences per batch). */
  items: number;
  /** Tokens over all batches. */
  tokens: number;
}

/**
 * Shares each batch's token slots evenly between the queued sequences (as node-llama-cpp's
 * default "maximumParallelism" does), then hands out what is left in order.
 */
export function countingStrategy(stats: BatchStats) {
  return ({ items, size }: { items: readonly BatchItem[]; size: number }): PrioritizedBatchItem[] => {
    const even = Math.max(1, Math.floor(size / Math.max(1, items.length)));
    let left = size;
    const out: PrioritizedBatchItem[] = [];
    for (const item of items) {
      if (left <= 0) break;
      const amount = Math.min(item.tokens.length, even, left);
      out.push({ item, processAmount: amount });
      left -= amount;
    }
    for (const entry of out) {
      if (left <= 0) break;
      const more = Math.min(entry.item.tokens.length - entry.processAmount, left);
      entry.processAmount += more;
      left -= more;
    }
    stats.batches++;
    stats.items += out.length;
    stats.tokens += size - left;
    return out;
  };
}
