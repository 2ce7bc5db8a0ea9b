/**
 * Socket Mode envelopes the fake Slack sent and how they were acknowledged. Like Slack, an envelope
 * not acknowledged within the deadline is counted as missed and sent again with `retry_attempt`
 * raised (up to three retries), so a slow app shows up as retries and as late deliveries.
 */
import { randomUUID } from 'node:crypto';

type Json = Record<string, unknown>;

export interface Delivery {
  envelopeId: string;
  type: string;
  /** Attempts sent (1 when the first was acknowledged in time). */
  attempts: number;
  /** Milliseconds from the (last) send to its acknowledgement. */
  ackMs: number;
  /** The payload the app sent back with the acknowledgement, if any. */
  response: unknown;
}

interface Pending {
  envelopeId: string;
  type: string;
  payload: Json;
  attempts: number;
  sentAt: number;
  timer: NodeJS.Timeout;
  resolve: (d: Delivery) => void;
  reject: (e: Error) => void;
}

export class Deliveries {
  /** Envelopes Slack would have counted as missed (no acknowledgement within the deadline). */
  readonly missed: Array<{ envelopeId: string; type: string; attempt: number }> = [];
  readonly done: Delivery[] = [];
  readonly #deadlineMs: number;
  readonly #send: (text: string) => void;
  readonly #pending = new Map<string, Pending>();

  constructor(deadlineMs: number, send: (text: string) => void) {
    this.#deadlineMs = deadlineMs;
    this.#send = send;
  }

  send(type: string, payload: Json): Promise<Delivery> {
    return new Promise((resolve, reject) => {
      const p: Pending = { envelopeId: randomUUID(), type, payload, attempts: 0, sentAt: 0, timer: setTimeout(() => {}, 0), resolve, reject };
      this.#attempt(p);
    });
  }

  #attempt(p: Pending): void {
    p.attempts++;
    p.sentAt = Date.now();
    this.#pending.set(p.envelopeId, p);
    clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      this.missed.push({ envelopeId: p.envelopeId, type: p.type, attempt: p.attempts });
      if (p.attempts > 3) {
        this.#pending.delete(p.envelopeId);
        p.reject(new Error(`envelope ${p.envelopeId} was never acknowledged`));
        return;
      }
      this.#attempt(p);
    }, this.#deadlineMs);
    const envelope: Json = {
      envelope_id: p.envelopeId,
      type: p.type,
      payload: p.payload,
      accepts_response_payload: p.type !== 'events_api',
    };
    if (p.attempts > 1) {
      envelope.retry_attempt = p.attempts - 1;
      envelope.retry_reason = 'timeout';
    }
    this.#send(JSON.stringify(envelope));
  }

  ack(envelopeId: string, response: unknown): void {
    const p = this.#pending.get(envelopeId);
    if (!p) return;
    clearTimeout(p.timer);
    this.#pending.delete(envelopeId);
    const d: Delivery = { envelopeId, type: p.type, attempts: p.attempts, ackMs: Date.now() - p.sentAt, response };
    this.done.push(d);
    p.resolve(d);
  }

  /** Sends an envelope again as Slack's retry of it (same payload, same event id, `retry_attempt` 1). */
  redeliver(type: string, payload: Json): Promise<Delivery> {
    return new Promise((resolve, reject) => {
      const p: Pending = { envelopeId: randomUUID(), type, payload, attempts: 1, sentAt: 0, timer: setTimeout(() => {}, 0), resolve, reject };
      this.#attempt(p);
    });
  }

  dispose(): void {
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error('fake Slack closed'));
    }
    this.#pending.clear();
  }
}
