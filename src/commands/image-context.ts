import type { Clock } from '../engine/clock.js';
import type { CommandStore, Engine } from '../engine/index.js';
import type { EngineEvent, JobRecord } from '../engine/types.js';
import { awaitsCaption, chatPayloadOf, toJson, withImageContext, type ChatPayload } from '../jobs/chat.js';

/** The context message a chat is given for an image. */
export function imageContextText(description: string): string {
  return `[The user shared an image. A description of it: ${description}]`;
}

/**
 * Gives a chat the descriptions of the images in its question. /ask with images queues one caption
 * job per image and then the chat job, all durable; FIFO within a user runs the captions first. When a
 * caption ends, this puts its description into the waiting chat's input (and the conversation's
 * history) before the chat can start. Driven by engine events, so it also works for jobs that a
 * restart resumed.
 */
export class ImageContextLinker {
  readonly #off: () => void;

  constructor(
    private readonly engine: Engine,
    private readonly store: CommandStore,
    private readonly clock: Clock,
  ) {
    this.#off = engine.on((e) => this.#onEvent(e));
  }

  dispose(): void {
    this.#off();
  }

  #onEvent(e: EngineEvent): void {
    const ev = e.event;
    if (ev.type !== 'result' && ev.type !== 'failed' && ev.type !== 'cancelled') return;
    const job = this.engine.getJob(e.jobId);
    if (!job || job.kind !== 'caption') return;
    for (const { chat, payload } of this.#waitingFor(job)) {
      let context: string;
      if (ev.type === 'result') {
        context = imageContextText(ev.result.text ?? '');
        if (chat.conversationId) {
          this.store.appendTurn(chat.conversationId, { role: 'context', content: context, meta: { jobId: job.id } }, this.clock.now());
        }
      } else {
        const why = ev.type === 'failed' ? ev.error.message : 'its description was cancelled';
        context = `[The user shared an image that could not be read: ${why}]`;
      }
      // Before the question itself, which stays last; the chat no longer waits for this caption.
      this.engine.amendPayload(chat.id, toJson(withImageContext(payload, job.id, context)));
    }
  }

  /** The owner's queued chat jobs that wait for this caption job, with their payloads read by the chat contract. */
  #waitingFor(caption: JobRecord): Array<{ chat: JobRecord; payload: ChatPayload }> {
    const out: Array<{ chat: JobRecord; payload: ChatPayload }> = [];
    for (const chat of this.store.listJobs({ userId: caption.userId, states: ['queued'] })) {
      const payload = chatPayloadOf(chat);
      if (payload && awaitsCaption(payload, caption.id)) out.push({ chat, payload });
    }
    return out;
  }
}
