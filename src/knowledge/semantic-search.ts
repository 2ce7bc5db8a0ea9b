/**
 * Hybrid retrieval: full-text (FTS5, bm25) and nearest-by-meaning (sqlite-vec) candidates for a
 * question, fused by reciprocal rank fusion (k = 60). Each list brings several times the answer's
 * size, so a message that both find comes first even when neither ranks it first.
 */
import type { KnowledgeEmbedder } from './embedder.js';
import type { MessageIndex, SearchScope } from './message-index.js';
import { fuseByRank, RRF_K } from './rank-fusion.js';
import type { SearchHit } from './types.js';
import type { VectorIndex } from './vector-index.js';

/** Candidates each list brings, per message of the answer. */
const CANDIDATES_PER_RESULT = 4;
/** Fewest candidates per list, however small the answer. */
const MIN_CANDIDATES = 20;

export interface SemanticSearchOptions {
  index: MessageIndex;
  vectors: VectorIndex;
  /** Embeds the question (a GPU-worker job; undefined when not had in time). */
  embedder: Pick<KnowledgeEmbedder, 'embedQuestion'>;
  k?: number;
}

export class SemanticSearch {
  readonly #o: SemanticSearchOptions;

  constructor(opts: SemanticSearchOptions) {
    this.#o = opts;
  }

  /**
   * The best `limit` messages for the question in the scope: fused full-text and vector results,
   * each hit's `score` the negated fused score (lower is better, as bm25's). `match` is the
   * question's FTS5 expression ('' when it has no searchable word: then vectors alone).
   */
  async search(question: string, match: string, scope: SearchScope, limit: number, signal?: AbortSignal): Promise<SearchHit[]> {
    const n = Math.max(MIN_CANDIDATES, limit * CANDIDATES_PER_RESULT);
    const text = match === '' ? [] : this.#o.index.search(match, scope, n);
    const vector = this.#o.vectors.dims === undefined ? undefined : await this.#o.embedder.embedQuestion(question, signal);
    const near = vector ? this.#o.vectors.search(vector, scope, n) : [];
    if (near.length === 0) return text.slice(0, limit);
    return this.fuse(text, near, limit);
  }

  /** Fuses full-text and vector hits (each best first) by reciprocal rank. */
  fuse(text: readonly SearchHit[], near: readonly SearchHit[], limit: number): SearchHit[] {
    const key = (h: SearchHit): string => `${h.platform}\u0000${h.workspace}\u0000${h.channel}\u0000${h.messageId}`;
    return fuseByRank([text, near], key, limit, this.#o.k ?? RRF_K).map((f) => ({ ...f.item, score: -f.score }));
  }
}
