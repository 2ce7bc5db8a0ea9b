import type { Clock } from '../engine/clock.js';
import type { CommandStore, Engine } from '../engine/index.js';
import type { EngineEvent, Json } from '../engine/types.js';
import { chatQuestionOf } from '../jobs/chat.js';

/**
 * Keeps each conversation's history: when a chat job ends with an answer (or a partial one, stopped),
 * its question and answer become turns of the conversation, in the store, so they survive a restart.
 */
export class ConversationRecorder {
  readonly #off: () => void;

  constructor(engine: Engine, store: CommandStore, clock: Clock) {
    this.#off = engine.on((e: EngineEvent) => {
      if (e.event.type !== 'result' && e.event.type !== 'cancelled') return;
      const job = engine.getJob(e.jobId);
      if (!job || job.kind !== 'chat' || !job.conversationId) return;
      const result = e.event.type === 'result' ? e.event.result : e.event.partial;
      if (!result?.text) return;
      const question = chatQuestionOf(job) ?? '';
      const now = clock.now();
      store.appendTurn(job.conversationId, { role: 'user', content: question, meta: { jobId: job.id } }, now);
      const meta: Record<string, Json> = { jobId: job.id };
      if (result.stopped) meta.stopped = result.stopReason ?? true;
      store.appendTurn(job.conversationId, { role: 'assistant', content: result.text, meta }, now);
    });
  }

  dispose(): void {
    this.#off();
  }
}
