import type { Clock } from '../engine/clock.js';
import type { Engine } from '../engine/engine.js';
import type { JobStore } from '../engine/store/job-store.js';
import type { EngineEvent, JobRecord, Json } from '../engine/types.js';

/** What a chat job's payload carries while the images of its question are being described. */
export interface AwaitingImages {
  /** Caption job ids not ended yet. */
  awaiting: string[];
}

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
    private readonly store: JobStore,
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
    for (const chat of this.#waitingFor(job)) {
      const payload = chat.payload as Record<string, Json>;
      const awaiting = (payload.awaiting as string[]).filter((id) => id !== job.id);
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
      const messages = [...(payload.messages as Array<Record<string, Json>>)];
      // Before the question itself, which is always last.
      messages.splice(Math.max(1, messages.length - 1), 0, { role: 'user', content: context });
      const contextList = [...((payload.context as string[] | undefined) ?? []), context];
      this.engine.amendPayload(chat.id, { ...payload, messages, context: contextList, awaiting });
    }
  }

  /** The owner's queued chat jobs that wait for this caption job. */
  #waitingFor(caption: JobRecord): JobRecord[] {
    return this.store
      .listJobs({ userId: caption.userId, states: ['queued'] })
      .filter((j) => j.kind === 'chat' && Array.isArray((j.payload as Record<string, Json>).awaiting) && ((j.payload as unknown as AwaitingImages).awaiting).includes(caption.id));
  }
}
