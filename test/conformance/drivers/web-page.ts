/**
 * What a console page shows, kept the way console.js keeps it: one card per message sent (its `ref`),
 * replaced whole by each `update`, its text grown by each `token` of the card's current job, all cards
 * sent again in the `hello` of every (re)connection. A card shows its status line, the image's
 * description (note) and its text: the words {@link Page.shows} returns are those.
 */
import type { JobView } from '../../../src/bots/web/job-tracker.js';
import { isMessage, type EventStream } from '../../browser/support/http-client.js';

export interface PageCard {
  ref: string;
  /** The card's view as the page holds it (undefined until the server has said something of it). */
  view: JobView | undefined;
  /** The status line as shown ("Sending…" until the server's first word, or a refusal). */
  status: string;
  /** Every distinct text the card's answer area showed, oldest first. */
  texts: string[];
}

/** The words of a card as the person reads them (console.js render). */
export function cardWords(c: PageCard): string {
  const v = c.view;
  const note = v?.note ? `The image, as the captioner sees it: ${v.note}` : '';
  return [c.status, note, v?.text ?? ''].filter((s) => s !== '').join('\n');
}

export class Page {
  readonly cards = new Map<string, PageCard>();
  #stream: EventStream | undefined;
  #read = 0;

  /** Follows a new event stream (a page load, or the reconnection after a restart). */
  follow(stream: EventStream): void {
    this.#stream = stream;
    this.#read = 0;
  }

  /** The card console.js makes when the person sends something (before the server answers). */
  sent(ref: string): PageCard {
    const card: PageCard = { ref, view: undefined, status: 'Sending…', texts: [] };
    this.cards.set(ref, card);
    return card;
  }

  /** The server refused what was sent: console.js failCard. */
  refused(ref: string, message: string): void {
    const c = this.cards.get(ref) ?? this.sent(ref);
    c.status = message;
  }

  /** Applies the messages that arrived since the last call. */
  sync(): void {
    const messages = this.#stream?.messages ?? [];
    for (; this.#read < messages.length; this.#read++) {
      const m = messages[this.#read];
      if (!isMessage(m)) continue;
      const msg = m as { type: string; jobs?: JobView[]; job?: JobView; jobId?: string; ref?: string; text?: string };
      if (msg.type === 'hello') for (const v of msg.jobs ?? []) this.#update(v);
      else if (msg.type === 'update' && msg.job) this.#update(msg.job);
      else if (msg.type === 'token' && msg.ref !== undefined) {
        const card = this.cards.get(msg.ref);
        const v = card?.view;
        if (!card || !v || v.jobId !== msg.jobId) continue;
        card.view = { ...v, text: v.text + (msg.text ?? ''), state: v.state === 'running' ? v.state : 'running' };
        card.status = '';
        this.#saw(card);
      }
    }
  }

  card(ref: string): PageCard | undefined {
    this.sync();
    return this.cards.get(ref);
  }

  /** The words of every card from `ref` on (that message and the ones sent after it), in page order. */
  shows(fromRef: string): string[] {
    this.sync();
    const all = [...this.cards.values()];
    const at = all.findIndex((c) => c.ref === fromRef);
    return (at < 0 ? [] : all.slice(at)).map(cardWords);
  }

  /** Every word any card shows (for scanning). */
  everything(): string[] {
    this.sync();
    return [...this.cards.values()].map(cardWords);
  }

  #update(v: JobView): void {
    const card = this.cards.get(v.ref) ?? this.sent(v.ref);
    card.view = { ...v };
    card.status = v.status;
    this.#saw(card);
  }

  #saw(card: PageCard): void {
    const text = card.view?.text ?? '';
    if (text !== '' && card.texts.at(-1) !== text) card.texts.push(text);
  }
}
