/**
 * The chat runner's context sequences, kept between jobs the way llama.cpp's server keeps its slots:
 * a sequence that served a conversation's turn stays idle with that conversation's evaluated tokens,
 * and the conversation's next turn takes it back, so only what is new gets evaluated. Other jobs
 * take a sequence never used yet, else the least recently used idle one (evicting its conversation).
 *
 * Whatever sequence a job gets, the job aligns it with its own prompt (node-llama-cpp compares the
 * tokens and erases from the first difference), so a wrong or evicted cache costs time, never a
 * different answer.
 */
import type { LlamaContextSequence } from 'node-llama-cpp';

/** Where new sequences come from (the runner's context; with a draft model, each with its token predictor). */
export interface SequenceSource {
  /** Sequences that can still be created. */
  readonly sequencesLeft: number;
  getSequence(): LlamaContextSequence;
}

/** What the cache did (counters since the runner was created). */
export interface ConversationCacheStats {
  /** Jobs of a conversation that found the conversation's sequence idle. */
  hits: number;
  /** Jobs of a conversation that did not (first turn, evicted, or its sequence was busy). */
  misses: number;
  /** Idle conversations whose tokens were given to another job or cleared to stay within the bound. */
  evictions: number;
  /** Prompt tokens found already evaluated in the job's sequence (any job, with or without a conversation). */
  reusedTokens: number;
  /** Prompt tokens the jobs had to evaluate. */
  evaluatedTokens: number;
}

export function emptyCacheStats(): ConversationCacheStats {
  return { hits: 0, misses: 0, evictions: 0, reusedTokens: 0, evaluatedTokens: 0 };
}

interface Idle {
  sequence: LlamaContextSequence;
  /** The conversation whose tokens it holds; undefined for a job without one (its tokens may still share a prefix). */
  conversationId: string | undefined;
  lastUsed: number;
}

export interface TakenSequence {
  sequence: LlamaContextSequence;
  /** True when the sequence held this conversation's tokens. */
  hit: boolean;
}

export class SequenceCache {
  private readonly idle: Idle[] = [];
  private clock = 0;
  private disposed = false;

  /**
   * @param keep most idle sequences that keep a conversation's tokens; 0 clears every sequence a job gives back.
   */
  constructor(
    private readonly context: SequenceSource,
    private readonly keep: number,
    private readonly stats: ConversationCacheStats,
  ) {}

  /** Idle sequences and the conversations they hold, least recently used first (for diagnostics). */
  get idleConversations(): Array<string | undefined> {
    return [...this.idle].sort((a, b) => a.lastUsed - b.lastUsed).map((i) => i.conversationId);
  }

  /**
   * A sequence for a job: its conversation's idle one, else one never used, else the least recently
   * used idle one. Throws (node-llama-cpp's error) when the context has no sequence left and none is idle.
   */
  take(conversationId: string | undefined): TakenSequence {
    if (conversationId !== undefined) {
      const index = this.idle.findIndex((i) => i.conversationId === conversationId);
      if (index >= 0) {
        const [found] = this.idle.splice(index, 1) as [Idle];
        this.stats.hits++;
        return { sequence: found.sequence, hit: true };
      }
      this.stats.misses++;
    }
    if (this.context.sequencesLeft > 0 || this.idle.length === 0) return { sequence: this.context.getSequence(), hit: false };
    let lru = 0;
    for (let i = 1; i < this.idle.length; i++) if ((this.idle[i] as Idle).lastUsed < (this.idle[lru] as Idle).lastUsed) lru = i;
    const [evicted] = this.idle.splice(lru, 1) as [Idle];
    if (evicted.conversationId !== undefined) this.stats.evictions++;
    return { sequence: evicted.sequence, hit: false };
  }

  /**
   * Takes a sequence back from a job. `clean` false (the job failed) frees it instead: its state is
   * not trusted. Beyond `keep` conversations, the least recently used idle ones are cleared.
   */
  async give(sequence: LlamaContextSequence, conversationId: string | undefined, clean: boolean): Promise<void> {
    if (sequence.disposed) return;
    if (this.disposed || !clean) {
      await sequence.dispose();
      return;
    }
    if (this.keep === 0) {
      await sequence.clearHistory();
      this.idle.push({ sequence, conversationId: undefined, lastUsed: ++this.clock });
      return;
    }
    // Two turns of one conversation ran at once: the newer tokens are the conversation's.
    for (const other of this.idle) if (other.conversationId === conversationId) other.conversationId = undefined;
    this.idle.push({ sequence, conversationId, lastUsed: ++this.clock });
    const kept = this.idle.filter((i) => i.conversationId !== undefined || i.sequence.nextTokenIndex > 0);
    if (kept.length <= this.keep) return;
    kept.sort((a, b) => a.lastUsed - b.lastUsed);
    for (const old of kept.slice(0, kept.length - this.keep)) {
      if (old.conversationId !== undefined) this.stats.evictions++;
      old.conversationId = undefined;
      await old.sequence.clearHistory();
    }
  }

  /** Frees every idle sequence; later `give`s free theirs. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const idle = this.idle.splice(0);
    await Promise.all(idle.map((i) => (i.sequence.disposed ? undefined : i.sequence.dispose())));
  }
}
