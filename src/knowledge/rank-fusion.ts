/**
 * Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009): each list votes 1 / (k + rank) for
 * its items (rank from 1), and the items are ordered by their summed votes. It needs no calibration
 * between bm25 scores and cosine distances, which share no scale, and k = 60 (the paper's) keeps one
 * list's top item from outweighing agreement between lists.
 */

/** The constant of the paper, and of most hybrid search engines that fuse this way. */
export const RRF_K = 60;

/** An item with its fused score (higher is better) and its rank in each list (undefined: not in it). */
export interface Fused<T> {
  item: T;
  score: number;
  ranks: Array<number | undefined>;
}

/**
 * Fuses ranked lists (best first) into one, best first, at most `limit` long. Items are the same
 * when `key` says so; the first list's copy of an item is kept. Equal scores go to the item with the
 * better single rank, then to the earlier list's order.
 */
export function fuseByRank<T>(lists: readonly (readonly T[])[], key: (item: T) => string, limit: number, k = RRF_K): Array<Fused<T>> {
  const byKey = new Map<string, Fused<T> & { best: number; order: number }>();
  let order = 0;
  lists.forEach((list, li) => {
    const seen = new Set<string>();
    list.forEach((item, i) => {
      const id = key(item);
      // An item twice in one list counts once, at its better rank.
      if (seen.has(id)) return;
      seen.add(id);
      const rank = i + 1;
      let f = byKey.get(id);
      if (!f) {
        f = { item, score: 0, ranks: lists.map(() => undefined), best: rank, order: order++ };
        byKey.set(id, f);
      }
      f.score += 1 / (k + rank);
      f.ranks[li] = rank;
      f.best = Math.min(f.best, rank);
    });
  });
  return [...byKey.values()]
    .sort((a, b) => b.score - a.score || a.best - b.best || a.order - b.order)
    .slice(0, Math.max(0, Math.floor(limit)))
    .map(({ item, score, ranks }) => ({ item, score, ranks }));
}
