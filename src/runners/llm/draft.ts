/**
 * Speculative decoding with a draft model (node-llama-cpp's DraftSequenceTokenPredictor): a small
 * model of the same tokenizer drafts the next tokens, the chat model checks them in one batch, and
 * every token it accepts is one decode saved. The answer is the chat model's either way. Off unless
 * `models.chat.draft` names a model.
 */
import { DraftSequenceTokenPredictor, type LlamaContext, type LlamaContextSequence } from 'node-llama-cpp';
import type { SequenceSource } from './sequence-cache.js';

export interface DraftSettings {
  /** Path of the draft model's .gguf file (same tokenizer as the chat model). */
  path: string;
  /** Most tokens drafted ahead (default 16). */
  maxTokens?: number;
  /** Fewest tokens drafted before the chat model checks them (default 0: whatever the draft has ready). */
  minTokens?: number;
  /** Lowest probability a drafted token needs to be offered (0..1, default 0.6). */
  minConfidence?: number;
}

/** What the draft model's predictions came to (counters over finished jobs). */
export interface DraftStats {
  /** Drafted tokens the chat model confirmed. */
  validated: number;
  /** Drafted tokens the chat model rejected. */
  refuted: number;
}

export function emptyDraftStats(): DraftStats {
  return { validated: 0, refuted: 0 };
}

/** Share of drafted tokens accepted; undefined before any was checked. */
export function acceptanceRate(stats: DraftStats): number | undefined {
  const checked = stats.validated + stats.refuted;
  return checked === 0 ? undefined : stats.validated / checked;
}

/** Sequences of `context`, each drafting with its own sequence of `draftContext` (freed with it). */
export function draftedSequences(context: LlamaContext, draftContext: LlamaContext, settings: DraftSettings): SequenceSource {
  return {
    get sequencesLeft(): number {
      return Math.min(context.sequencesLeft, draftContext.sequencesLeft);
    },
    getSequence(): LlamaContextSequence {
      const draftSequence = draftContext.getSequence();
      const sequence = context.getSequence({
        tokenPredictor: new DraftSequenceTokenPredictor(draftSequence, {
          maxTokens: settings.maxTokens ?? 16,
          minTokens: Math.min(settings.minTokens ?? 0, settings.maxTokens ?? 16),
          minConfidence: settings.minConfidence ?? 0.6,
        }),
      });
      sequence.onDispose.createListener(() => {
        if (!draftSequence.disposed) void draftSequence.dispose();
      });
      return sequence;
    },
  };
}

/** The predictions a sequence's drafts came to since `since` (a copy of `sequence.tokenPredictions` taken earlier). */
export function predictionsSince(sequence: LlamaContextSequence, since: DraftStats): DraftStats {
  const now = sequence.tokenPredictions;
  return { validated: now.validated - since.validated, refuted: now.refuted - since.refuted };
}
