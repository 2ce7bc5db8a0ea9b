/**
 * One job as the people in Slack see it: a status message (queue position, progress, buttons), the
 * answer (streamed or edited in), the uploaded image. Engine events update the job's state at once;
 * Slack is brought up to that state at most once per `updateIntervalMs` (the end of a job at once),
 * one call sequence at a time, so edits never overtake each other and none are wasted on states
 * already superseded.
 */
import { queuedText } from '../../commands/wording.js';
import { slackErrorText } from './error-text.js';
import type { ErrorInfo, JobEvent, JobRecord, JobResult, Json } from '../../engine/types.js';
import { StreamWriter, UpdateWriter, LiveMessage, type AnswerWriter } from './answer-writer.js';
import { cancelButton, progressBar, rerollButton, textMessage } from './blocks.js';
import type { SlackOrigin } from './origin.js';
import { slackErrorCode, type SlackApi } from './slack-api.js';
import { escapeMrkdwn } from './text.js';

export interface JobViewDeps {
  api: SlackApi;
  intervalMs: number;
  now(): number;
  report(error: unknown, where: string): void;
  /** Whether chat.startStream may be tried for a workspace; told when it is not available. */
  streaming: { usable(team: string): boolean; unavailable(team: string, code: string): void };
  /** True while a command handler still waits on this status message (an image being described for a chat). */
  handlerWaiting(statusTs: string | undefined): boolean;
}

type Phase = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
const TERMINAL: ReadonlySet<Phase> = new Set(['done', 'failed', 'cancelled']);

export class JobView {
  readonly jobId: string;
  readonly #job: JobRecord;
  readonly #origin: SlackOrigin;
  readonly #deps: JobViewDeps;
  #status: LiveMessage;
  #writer: AnswerWriter | undefined;

  #phase: Phase = 'queued';
  #queued: { position: number; etaSeconds: number } | undefined;
  #progress: { step: number; of: number } | undefined;
  #text = '';
  #interrupted: string | undefined;
  #result: JobResult | null = null;
  #error: ErrorInfo | undefined;
  #cancelledBy: string | undefined;
  #uploaded = false;

  #timer: NodeJS.Timeout | undefined;
  #busy: Promise<void> | undefined;
  #dirty = false;
  #lastFlush = Number.NEGATIVE_INFINITY;
  #disposed = false;
  readonly #finished: Promise<void>;
  #resolveFinished!: () => void;

  constructor(job: JobRecord, origin: SlackOrigin, deps: JobViewDeps) {
    this.jobId = job.id;
    this.#job = job;
    this.#origin = origin;
    this.#deps = deps;
    this.#status = new LiveMessage(deps.api, origin.channel, origin.thread, origin.status);
    this.#finished = new Promise((resolve) => (this.#resolveFinished = resolve));
  }

  /** Resolves once the job's end has been shown. */
  get finished(): Promise<void> {
    return this.#finished;
  }

  /** True once the job has ended (its end may still be on its way to Slack). */
  get ending(): boolean {
    return TERMINAL.has(this.#phase);
  }

  apply(event: JobEvent): void {
    if (this.#disposed || TERMINAL.has(this.#phase)) return;
    switch (event.type) {
      case 'queued':
        this.#phase = 'queued';
        this.#queued = { position: event.position, etaSeconds: event.etaSeconds };
        break;
      case 'started':
        // A retry after a crash generates the answer again from the start.
        if (this.#text.length > 0) this.#interrupted = this.#text;
        this.#text = '';
        this.#phase = 'running';
        this.#progress = undefined;
        break;
      case 'progress':
        this.#phase = 'running';
        this.#progress = { step: event.step, of: event.of };
        break;
      case 'token':
        this.#phase = 'running';
        this.#text += event.text;
        break;
      case 'preview':
        return;
      case 'result':
        this.#phase = 'done';
        this.#result = event.result;
        break;
      case 'failed':
        this.#phase = 'failed';
        this.#error = event.error;
        break;
      case 'cancelled':
        this.#phase = 'cancelled';
        this.#result = event.partial;
        this.#cancelledBy = event.by;
        break;
    }
    this.#schedule();
  }

  /** Stops scheduling; resolves when a Slack call in flight has returned. */
  async dispose(): Promise<void> {
    this.#disposed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#busy;
  }

  #schedule(): void {
    if (this.#disposed) return;
    if (this.#busy) {
      this.#dirty = true;
      return;
    }
    const terminal = TERMINAL.has(this.#phase);
    if (this.#timer) {
      if (!terminal) return;
      clearTimeout(this.#timer);
    }
    const wait = terminal ? 0 : Math.max(0, this.#lastFlush + this.#deps.intervalMs - this.#deps.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#busy = this.#run();
    }, wait);
  }

  async #run(): Promise<void> {
    this.#dirty = false;
    this.#lastFlush = this.#deps.now();
    const terminal = TERMINAL.has(this.#phase);
    try {
      await this.#flush();
    } catch (e) {
      this.#deps.report(e, `slack: showing ${this.#job.kind} job ${this.jobId}`);
    } finally {
      this.#busy = undefined;
      if (this.#dirty) this.#schedule();
      else if (terminal) this.#resolveFinished();
    }
  }

  #flush(): Promise<void> {
    switch (this.#job.kind) {
      case 'chat':
        return this.#flushChat();
      case 'image':
        return this.#flushImage();
      case 'caption':
        return this.#flushCaption();
    }
  }

  // ---------------------------------------------------------------------------------------------

  #queuedMessage(what?: string) {
    const q = this.#queued;
    const line = q ? queuedText(q.position, q.etaSeconds) : 'Getting in line…';
    return textMessage(`:hourglass_flowing_sand: ${what ? `${what} ` : ''}${line}`, { buttons: [cancelButton(this.jobId)] });
  }

  #cancelledText(): string {
    const by = this.#cancelledBy?.replace(/^slack:/, '');
    return by === this.#origin.user || !by ? '_Cancelled._' : `_Cancelled by <@${by}>._`;
  }

  async #flushChat(): Promise<void> {
    const phase = this.#phase;
    if (this.#interrupted !== undefined) {
      const partial = this.#interrupted;
      this.#interrupted = undefined;
      await this.#write((w) => w.finish(partial, '_Interrupted; the answer starts over below._'));
      this.#writer = undefined;
      this.#status = new LiveMessage(this.#deps.api, this.#origin.channel, this.#origin.thread);
    }
    if (phase === 'queued') return this.#status.show(this.#queuedMessage());
    const cancel = [cancelButton(this.jobId)];
    if (phase === 'running') {
      if (this.#text.length === 0) return this.#status.show(textMessage('_Thinking…_', { buttons: cancel }));
      const writer = this.#writerFor();
      if (writer.mode === 'stream') await this.#status.show(textMessage('_Answering…_', { buttons: cancel }));
      return this.#write((w) => w.write(this.#text, cancel));
    }
    let text = this.#result?.text ?? this.#text;
    let footer: string | undefined;
    if (phase === 'done') {
      if (text.trim().length === 0) text = '(The model gave an empty answer.)';
      if (this.#result?.stopReason === 'maxTokens') footer = '_Stopped at the answer length limit._';
    } else if (phase === 'cancelled') footer = this.#cancelledText();
    else footer = `:warning: ${slackErrorText(this.#error ?? { code: 'RUNNER_FAILED', message: 'unknown' })}`;
    await this.#write((w) => w.finish(text, footer));
    const writer = this.#writerFor();
    if (writer.mode === 'stream') {
      // The answer is in its own message; the status line goes, unless it has to say why it stopped.
      if (phase !== 'done' && footer && (phase === 'failed' || !writer.started)) await this.#status.show(textMessage(footer));
      else await this.#status.remove();
    }
  }

  #writerFor(): AnswerWriter {
    if (!this.#writer) {
      const o = this.#origin;
      this.#writer =
        o.thread && this.#deps.streaming.usable(o.team)
          ? new StreamWriter(this.#deps.api, { ...o, thread: o.thread })
          : new UpdateWriter(this.#deps.api, o, this.#status);
    }
    return this.#writer;
  }

  /** Runs a write; a stream that cannot start (or breaks) falls back to edited messages, losing nothing. */
  async #write(fn: (w: AnswerWriter) => Promise<void>): Promise<void> {
    const writer = this.#writerFor();
    try {
      await fn(writer);
    } catch (e) {
      if (writer.mode !== 'stream') throw e;
      const code = slackErrorCode(e);
      if (!writer.started && code) this.#deps.streaming.unavailable(this.#origin.team, code);
      else this.#deps.report(e, `slack: streaming job ${this.jobId}`);
      this.#writer = new UpdateWriter(this.#deps.api, this.#origin, this.#status);
      await fn(this.#writer);
    }
  }

  async #flushImage(): Promise<void> {
    const phase = this.#phase;
    if (phase === 'queued') return this.#status.show(this.#queuedMessage());
    if (phase === 'running') {
      const p = this.#progress;
      const line = p ? `_Painting…_ step ${p.step} of ${p.of}  ${progressBar(p.step, p.of)}` : '_Painting…_';
      return this.#status.show(textMessage(line, { buttons: [cancelButton(this.jobId)] }));
    }
    if (phase === 'cancelled') return this.#status.show(textMessage(this.#cancelledText()));
    const image = this.#result?.image;
    if (phase === 'failed' || !image) {
      const error = this.#error ?? { code: 'RUNNER_FAILED' as const, message: 'the image job ended without an image' };
      return this.#status.show(textMessage(`:warning: ${slackErrorText(error)}`));
    }
    const p = this.#job.payload as Record<string, Json>;
    const details = imageDetails(p, image);
    if (!this.#uploaded) {
      const prompt = typeof p.prompt === 'string' ? p.prompt : 'image';
      await this.#deps.api.upload({
        channel: this.#origin.channel,
        ...(this.#origin.thread ? { thread: this.#origin.thread } : {}),
        bytes: image.png,
        filename: `hearth-${typeof p.seed === 'number' ? p.seed : this.jobId}.png`,
        title: prompt.slice(0, 250),
        altText: prompt.slice(0, 1000),
        comment: `<@${this.#origin.user}>: *${escapeMrkdwn(prompt.slice(0, 2000))}*\n${details}`,
      });
      this.#uploaded = true;
    }
    await this.#status.show(textMessage(`:frame_with_picture: Done — ${details}`, { buttons: [rerollButton(this.jobId)] }));
  }

  /** An image described for a chat: the chat's own job shows the answer; this shows the wait. */
  async #flushCaption(): Promise<void> {
    const phase = this.#phase;
    if (phase === 'queued') return this.#status.show(this.#queuedMessage('Looking at your image first.'));
    if (phase === 'running') return this.#status.show(textMessage('_Looking at your image…_', { buttons: [cancelButton(this.jobId)] }));
    // The handler that asked turns the description into a chat job, or words the failure itself;
    // with no handler left (hearth restarted in between), the question has to be asked again.
    if (this.#deps.handlerWaiting(this.#origin.status)) return;
    if (phase === 'done') return this.#status.show(textMessage('hearth restarted while it was looking at your image. Please ask again.'));
    if (phase === 'cancelled') return this.#status.show(textMessage(this.#cancelledText()));
    return this.#status.show(textMessage(`:warning: ${slackErrorText(this.#error ?? { code: 'RUNNER_FAILED', message: 'unknown' })}`));
  }
}

/** "seed 7 · 768×512 · 20 steps · euler" */
export function imageDetails(p: Record<string, Json>, image: { width: number; height: number }): string {
  const parts = [`seed ${String(p.seed)}`, `${image.width}×${image.height}`];
  if (typeof p.steps === 'number') parts.push(`${p.steps} steps`);
  if (typeof p.scheduler === 'string') parts.push(p.scheduler);
  if (typeof p.negativePrompt === 'string' && p.negativePrompt.length > 0) parts.push(`no: ${escapeMrkdwn(p.negativePrompt.slice(0, 200))}`);
  return parts.join(' · ');
}
