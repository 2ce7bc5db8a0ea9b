/**
 * How a chat answer reaches Slack while it is generated: streamed (chat.startStream / appendStream /
 * stopStream) where the workspace has it, or by editing messages (chat.update, throttled by the
 * caller). Long answers continue in further messages of the thread; no text is dropped.
 */
import { textMessage, type Button } from './blocks.js';
import type { SlackOrigin } from './origin.js';
import { slackErrorCode, type SlackApi, type SlackMessage } from './slack-api.js';
import { PART_CHARS, cutIndex, escapeMrkdwn, neutralizeMentions, splitText } from './text.js';

/** One message hearth keeps showing and editing (a status line, or one part of an answer). */
export class LiveMessage {
  readonly #api: SlackApi;
  readonly #channel: string;
  readonly #thread: string | undefined;
  #ts: string | undefined;
  #shown = '';

  constructor(api: SlackApi, channel: string, thread: string | undefined, ts?: string) {
    this.#api = api;
    this.#channel = channel;
    this.#thread = thread;
    this.#ts = ts;
  }

  get ts(): string | undefined {
    return this.#ts;
  }

  /** Shows `msg`, posting the message the first time and editing it after; an unchanged message is not sent. */
  async show(msg: SlackMessage): Promise<void> {
    const key = JSON.stringify(msg);
    if (key === this.#shown) return;
    if (this.#ts) await this.#api.update(this.#channel, this.#ts, msg);
    else this.#ts = await this.#api.post(this.#channel, msg, this.#thread);
    this.#shown = key;
  }

  async remove(): Promise<void> {
    if (!this.#ts) return;
    const ts = this.#ts;
    this.#ts = undefined;
    this.#shown = '';
    await this.#api.remove(this.#channel, ts);
  }
}

export interface AnswerWriter {
  readonly mode: 'stream' | 'update';
  /** True once something of the answer has been sent. */
  readonly started: boolean;
  /** Brings Slack up to `text` (the whole answer so far) while it is being generated. */
  write(text: string, buttons: readonly Button[]): Promise<void>;
  /** The final text, with an optional line under it (why it stopped). */
  finish(text: string, footer?: string): Promise<void>;
  /** Takes back what it posted of the answer (it starts over): messages of its own go, the status message stays. */
  discard(): Promise<void>;
}

/** Told the ts of each message a writer posts for the answer (besides the status message). */
export type OnPosted = (ts: string) => void;

/**
 * Told just before a writer asks Slack for a new answer message, so the intent can be stored first
 * (a crash before Slack's reply arrives would otherwise leave a message nobody knows of).
 */
export type OnPosting = () => void;

/** Removes answer messages an earlier attempt left: a stream still open is stopped first. Gone already is fine. */
export async function removeAnswerMessages(api: SlackApi, channel: string, ts: readonly string[]): Promise<void> {
  for (const t of ts) {
    await api.stopStream(channel, t).catch(() => undefined);
    await api.remove(channel, t).catch((e: unknown) => {
      if (slackErrorCode(e) !== 'message_not_found') throw e;
    });
  }
}

/**
 * Answers by editing messages: the status message becomes the first part, later parts are posted
 * below it; the buttons sit on the last part while the answer runs.
 */
export class UpdateWriter implements AnswerWriter {
  readonly mode = 'update';
  readonly #api: SlackApi;
  readonly #origin: SlackOrigin;
  readonly #parts: LiveMessage[];
  readonly #posted: OnPosted;
  readonly #posting: OnPosting;

  constructor(api: SlackApi, origin: SlackOrigin, status: LiveMessage, posted: OnPosted = () => {}, posting: OnPosting = () => {}) {
    this.#api = api;
    this.#origin = origin;
    this.#parts = [status];
    this.#posted = posted;
    this.#posting = posting;
  }

  async discard(): Promise<void> {
    const own = this.#parts.splice(1);
    for (const part of own) await part.remove();
  }

  get started(): boolean {
    return this.#parts.length > 1 || this.#parts[0]?.ts !== undefined;
  }

  write(text: string, buttons: readonly Button[]): Promise<void> {
    return this.#render(text, { buttons });
  }

  finish(text: string, footer?: string): Promise<void> {
    return this.#render(text, footer ? { footer } : {});
  }

  async #render(text: string, last: { buttons?: readonly Button[]; footer?: string }): Promise<void> {
    if (text.length === 0 && last.footer) {
      await this.#parts[0]?.show(textMessage(last.footer, last.buttons ? { buttons: last.buttons } : {}));
      return;
    }
    const parts = splitText(escapeMrkdwn(text), PART_CHARS);
    for (let i = 0; i < parts.length; i++) {
      const target = (this.#parts[i] ??= new LiveMessage(this.#api, this.#origin.channel, this.#origin.thread));
      const fresh = target.ts === undefined;
      if (fresh && i > 0) this.#posting();
      await target.show(textMessage(parts[i] ?? '', i === parts.length - 1 ? last : {}));
      if (fresh && i > 0 && target.ts !== undefined) this.#posted(target.ts);
    }
  }
}

/**
 * Streams the answer into a message of the thread; the status message above it keeps the Cancel
 * button and goes away once the answer is complete. A stream that reaches {@link PART_CHARS} is
 * stopped and the answer continues in a new stream.
 */
export class StreamWriter implements AnswerWriter {
  readonly mode = 'stream';
  readonly #api: SlackApi;
  readonly #origin: SlackOrigin & { thread: string };
  readonly #posted: OnPosted;
  readonly #posting: OnPosting;
  #ts: string | undefined;
  /** Every stream it started, for {@link discard}. */
  readonly #all: string[] = [];
  #streamChars = 0;
  #sent = 0;
  #started = false;

  constructor(api: SlackApi, origin: SlackOrigin & { thread: string }, posted: OnPosted = () => {}, posting: OnPosting = () => {}) {
    this.#api = api;
    this.#origin = origin;
    this.#posted = posted;
    this.#posting = posting;
  }

  async discard(): Promise<void> {
    this.#ts = undefined;
    await removeAnswerMessages(this.#api, this.#origin.channel, this.#all.splice(0));
  }

  get started(): boolean {
    return this.#started;
  }

  async write(text: string): Promise<void> {
    const full = neutralizeMentions(text);
    let delta = full.slice(this.#sent);
    const o = this.#origin;
    while (delta.length > 0) {
      if (this.#ts && this.#streamChars >= PART_CHARS) {
        const ts = this.#ts;
        this.#ts = undefined;
        await this.#api.stopStream(o.channel, ts);
      }
      const room = PART_CHARS - this.#streamChars * (this.#ts ? 1 : 0);
      const piece = delta.length <= room ? delta : delta.slice(0, cutIndex(delta, room));
      if (!this.#ts) {
        this.#posting();
        this.#ts = await this.#api.startStream(o.channel, o.thread, piece, o.dm ? undefined : { team: o.team, user: o.user });
        this.#all.push(this.#ts);
        this.#posted(this.#ts);
        this.#started = true;
        this.#streamChars = 0;
      } else {
        await this.#api.appendStream(o.channel, this.#ts, piece);
      }
      this.#streamChars += piece.length;
      this.#sent += piece.length;
      delta = delta.slice(piece.length);
    }
  }

  async finish(text: string, footer?: string): Promise<void> {
    await this.write(text);
    if (!this.#ts) return;
    const ts = this.#ts;
    this.#ts = undefined;
    await this.#api.stopStream(this.#origin.channel, ts, footer ? `\n\n${footer}` : undefined);
  }
}
