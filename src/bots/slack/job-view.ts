/**
 * One job as the people in Slack see it: a status message (queue position, progress, buttons), the
 * answer (streamed or edited in), the uploaded image. Engine events update the job's state at once;
 * Slack is brought up to that state at most once per `updateIntervalMs` (the end of a job at once),
 * one call sequence at a time, so edits never overtake each other and none are wasted on states
 * already superseded.
 */
import { samplerLabel } from '../../commands/image-choices.js';
import { waitText } from '../../commands/wording.js';
import type { JobRecord, Json } from '../../engine/types.js';
import { emptyView, isFinal, roleOf, type JobViewModel } from '../../views/job-view-model.js';
import type { ViewChange } from '../../views/job-views.js';
import { ThrottledEditor } from '../../views/throttled-editor.js';
import { slackErrorText } from './error-text.js';
import { StreamWriter, UpdateWriter, LiveMessage, removeAnswerMessages, type AnswerWriter } from './answer-writer.js';
import { cancelButton, progressBar, rerollButton, textMessage, varyButtons } from './blocks.js';
import { originToJson, parseOrigin, type SlackOrigin } from './origin.js';
import { findOrphans } from './orphans.js';
import { compareTs, slackErrorCode, type SlackApi } from './slack-api.js';
import { escapeMrkdwn } from './text.js';
import { sourcesOf } from '../../views/sources.js';
import { sourcesLine } from './sources.js';

export interface JobViewDeps {
  api: SlackApi;
  intervalMs: number;
  now(): number;
  report(error: unknown, where: string): void;
  /** Whether chat.startStream may be tried for a workspace; told when it is not available. */
  streaming: { usable(team: string): boolean; unavailable(team: string, code: string): void };
  /** Stores a job's origin again (the answer messages it has posted), so a restarted answer can take them back. */
  record(jobId: string, origin: Json): void;
  /** Whether a message belongs to a job being shown (its status or answer): never taken back as left behind. */
  owned?(channel: string, ts: string): boolean;
  /** Looking for a left-behind message failed (the conversation cannot be read): told once per channel. */
  searchFailed?(channel: string, error: unknown): void;
  /** False when the image model cannot start from an image (`CommandLimits.image.fromImage`): pictures get no Vary buttons. */
  vary?: boolean;
}

/** What one flush brings Slack up to: the shared view and the main job's record. */
interface Shown {
  view: JobViewModel;
  job: JobRecord | undefined;
}

/**
 * One command as Slack shows it: its status message and answer, from the shared job view (src/views),
 * brought up to date through the one throttling rule for edits (at most one per `intervalMs`, the end
 * at once, one call sequence at a time).
 */
export class JobView {
  readonly #origin: SlackOrigin;
  readonly #deps: JobViewDeps;
  readonly #editor: ThrottledEditor<Shown>;
  #status: LiveMessage;
  #writer: AnswerWriter | undefined;
  #job: JobRecord | undefined;
  #shown: Shown = { view: emptyView(), job: undefined };
  /** The attempt whose interrupted text was already taken back. */
  #interruptionShown = 0;
  /** The answer messages this attempt posted (recorded in the main job's origin). */
  #posted: string[] = [];
  /** Answer messages a run before a restart left: removed before anything else is shown. */
  #stale: string[] = [];
  /** A run before a restart was killed while asking Slack for a message: it is looked for after this ts. */
  #orphansAfter: string | undefined;
  #checkedEarlier = false;
  #uploaded = false;
  #final = false;
  /** Slack calls that failed: any after the end was set means it did not reach the person. */
  #failures = 0;
  #disposed = false;
  readonly #finished: Promise<void>;
  #resolveFinished!: () => void;

  constructor(origin: SlackOrigin, deps: JobViewDeps) {
    this.#origin = origin;
    this.#deps = deps;
    this.#status = new LiveMessage(deps.api, origin.channel, origin.thread, origin.status);
    this.#finished = new Promise((resolve) => (this.#resolveFinished = resolve));
    this.#editor = new ThrottledEditor<Shown>({
      intervalMs: deps.intervalMs,
      now: () => deps.now(),
      deliver: (shown) =>
        this.#flush(shown).catch((e: unknown) => {
          this.#failures++;
          throw e;
        }),
      onError: (e) => deps.report(e, `slack: showing job ${this.#job?.id ?? '(none)'}`),
    });
  }

  /** Resolves once the end has been shown. */
  get finished(): Promise<void> {
    return this.#finished;
  }

  /** True once the view has its end (it may still be on its way to Slack). */
  get ending(): boolean {
    return this.#final;
  }

  show(change: ViewChange<SlackOrigin>): void {
    if (this.#disposed || this.#final) return;
    if (change.job && roleOf(change.job) === 'main') {
      this.#job = change.job;
      // First seen in this process: what an earlier run posted for this answer is taken back first.
      if (!this.#checkedEarlier) {
        this.#checkedEarlier = true;
        const earlier = parseOrigin(change.job.origin);
        this.#stale.push(...(earlier?.answer ?? []));
        this.#orphansAfter = earlier?.posting;
      }
    }
    const final = isFinal(change.view);
    this.#final = final;
    const failures = this.#failures;
    this.#editor.set({ view: change.view, job: this.#job }, { final });
    if (!final) return;
    void this.#editor.idle().then(() => {
      // The end reached Slack: recorded, so a restart does not send it again.
      if (!this.#disposed && this.#failures === failures) change.delivered?.();
      this.#resolveFinished();
    });
  }

  /** Stops scheduling; resolves when a Slack call in flight has returned. */
  async dispose(): Promise<void> {
    this.#disposed = true;
    const idle = this.#editor.idle();
    this.#editor.dropPending();
    await idle;
    this.#editor.dispose();
    this.#resolveFinished();
  }

  /** Whether this view knows the message as its own (status or answer, of this run or the one before). */
  owns(channel: string, ts: string): boolean {
    if (channel !== this.#origin.channel) return false;
    return ts === this.#status.ts || ts === this.#origin.status || this.#posted.includes(ts) || this.#stale.includes(ts);
  }

  async #flush(shown: Shown): Promise<void> {
    if (this.#orphansAfter !== undefined) await this.#takeBackOrphans(this.#orphansAfter);
    if (this.#stale.length > 0) await removeAnswerMessages(this.#deps.api, this.#origin.channel, this.#stale.splice(0));
    this.#shown = shown;
    const kind = shown.view.kind;
    if (kind === 'chat') return this.#flushChat();
    if (kind === 'image') return this.#flushImage();
    if (kind === 'caption') return this.#flushCaption();
    return this.#flushHelpersOnly();
  }

  /**
   * The run before a restart was killed between asking Slack for an answer message and storing its
   * ts: the bot's messages in the conversation since then that no job owns are that message, and go
   * with the rest of that run's answer. Once looked for, the intent is cleared from the origin.
   */
  async #takeBackOrphans(after: string): Promise<void> {
    this.#orphansAfter = undefined;
    const o = this.#origin;
    try {
      const found = await findOrphans(this.#deps.api, {
        channel: o.channel,
        ...(o.thread ? { thread: o.thread } : {}),
        after,
        owned: (ts) => this.owns(o.channel, ts) || (this.#deps.owned?.(o.channel, ts) ?? false),
      });
      this.#stale.push(...found);
    } catch (e) {
      // Not being able to read the conversation (a missing history scope) must not stop the answer.
      if (this.#deps.searchFailed) this.#deps.searchFailed(o.channel, e);
      else this.#deps.report(e, `slack: looking for a message job ${this.#job?.id ?? '(none)'} left behind`);
    }
    this.#setPosted(this.#posted);
  }

  /** The newest message known in the answer's conversation: a new one Slack makes will be newer. */
  #newestKnown(): string {
    const o = this.#origin;
    const known = [this.#deps.api.newestPosted(o.channel, o.thread), o.thread, this.#status.ts, o.status, ...this.#posted];
    return known.filter((ts): ts is string => ts !== undefined).sort(compareTs).pop() ?? '0';
  }

  // ---------------------------------------------------------------------------------------------

  get #view(): JobViewModel {
    return this.#shown.view;
  }

  get #jobId(): string {
    return this.#view.jobId ?? this.#view.helpers[0]?.jobId ?? '';
  }

  #queuedMessage() {
    const v = this.#view;
    const helper = v.helpers[0];
    const line = helper
      ? `Looking at your image first. ${helper.phase === 'running' ? '' : waitText(helper.queued)}`.trim()
      : waitText(v.phase === 'queued' ? v.queued : undefined);
    return textMessage(`:hourglass_flowing_sand: ${line}`, { buttons: [cancelButton(this.#jobId)] });
  }

  #cancelledText(): string {
    const stopped = this.#view.stopped;
    if (!stopped || stopped.byOwner) return '_Cancelled._';
    const by = stopped.by.replace(/^slack:/, '');
    return by === this.#origin.user ? '_Cancelled._' : `_Cancelled by <@${by}>._`;
  }

  #errorText(): string {
    return `:warning: ${slackErrorText(this.#view.error ?? { code: 'RUNNER_FAILED', message: 'unknown' })}`;
  }

  /** Only helper jobs so far (the question's images being described): the status line shows the wait. */
  async #flushHelpersOnly(): Promise<void> {
    const v = this.#view;
    if (v.phase === 'failed') return this.#status.show(textMessage(this.#errorText()));
    if (v.phase === 'cancelled') return this.#status.show(textMessage(this.#cancelledText()));
    return this.#status.show(this.#queuedMessage());
  }

  async #flushChat(): Promise<void> {
    const v = this.#view;
    const phase = v.phase;
    if (v.interrupted !== undefined && this.#interruptionShown !== v.attempt) {
      // The answer starts over (the GPU worker died under it): Slack can take back what was shown, so
      // the thread keeps one answer only. The status message stays and shows the new attempt.
      this.#interruptionShown = v.attempt;
      const writer = this.#writer;
      this.#writer = undefined;
      await writer?.discard();
      this.#setPosted([]);
    }
    if (phase === 'queued' || phase === 'waiting') return this.#status.show(this.#queuedMessage());
    const cancel = [cancelButton(this.#jobId)];
    if (phase === 'running') {
      if (v.text.length === 0) return this.#status.show(textMessage('_Thinking…_', { buttons: cancel }));
      const writer = this.#writerFor();
      if (writer.mode === 'stream') await this.#status.show(textMessage('_Answering…_', { buttons: cancel }));
      return this.#write((w) => w.write(v.text, cancel));
    }
    let text = v.result?.text ?? v.text;
    let footer: string | undefined;
    if (phase === 'done') {
      if (text.trim().length === 0) text = '(The model gave an empty answer.)';
      if (v.result?.stopReason === 'maxTokens') footer = '_Stopped at the answer length limit._';
      // The workspace messages the answer was given, as links under it.
      const sources = sourcesOf(this.#shown.job);
      if (sources.length > 0) footer = [footer, sourcesLine(sources, this.#writerFor().mode === 'stream' ? 'markdown' : 'mrkdwn')].filter(Boolean).join('\n');
    } else if (phase === 'cancelled') footer = this.#cancelledText();
    else footer = this.#errorText();
    await this.#write((w) => w.finish(text, footer));
    const writer = this.#writerFor();
    if (writer.mode === 'stream') {
      // The answer is in its own message, with why it stopped under it; the status line goes, unless
      // no answer was streamed and the line is the only place left to say why (said once, not twice).
      if (phase !== 'done' && footer && !writer.started) await this.#status.show(textMessage(footer));
      else await this.#status.remove();
    }
  }

  #writerFor(): AnswerWriter {
    if (!this.#writer) {
      const o = this.#origin;
      this.#writer =
        o.thread && this.#deps.streaming.usable(o.team)
          ? new StreamWriter(this.#deps.api, { ...o, thread: o.thread }, this.#onPosted, this.#onPosting)
          : new UpdateWriter(this.#deps.api, o, this.#status, this.#onPosted, this.#onPosting);
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
      else this.#deps.report(e, `slack: streaming job ${this.#jobId}`);
      this.#writer = new UpdateWriter(this.#deps.api, this.#origin, this.#status, this.#onPosted, this.#onPosting);
      await fn(this.#writer);
    }
  }

  readonly #onPosted = (ts: string): void => this.#setPosted([...this.#posted, ts]);
  readonly #onPosting = (): void => this.#setPosted(this.#posted, this.#newestKnown());

  /**
   * Records the answer messages posted so far in the main job's origin (durably, before more is
   * shown), and `posting` while a new one is being asked for.
   */
  #setPosted(ts: string[], posting?: string): void {
    this.#posted = ts;
    const job = this.#job;
    if (!job) return;
    const { posting: _was, ...origin } = parseOrigin(job.origin) ?? this.#origin;
    this.#deps.record(job.id, originToJson({ ...origin, answer: [...ts], ...(posting !== undefined ? { posting } : {}) }));
  }

  async #flushImage(): Promise<void> {
    const v = this.#view;
    const phase = v.phase;
    if (phase === 'queued' || phase === 'waiting') return this.#status.show(this.#queuedMessage());
    if (phase === 'running') {
      const p = v.progress;
      const from = v.source ? ` (${v.source.text})` : '';
      const line = p ? `_Painting…_${from} step ${p.step} of ${p.of}  ${progressBar(p.step, p.of)}` : `_Painting…_${from}`;
      return this.#status.show(textMessage(line, { buttons: [cancelButton(this.#jobId)] }));
    }
    if (phase === 'cancelled') return this.#status.show(textMessage(this.#cancelledText()));
    const image = v.result?.image;
    if (phase === 'failed' || !image) {
      const error = v.error ?? { code: 'RUNNER_FAILED' as const, message: 'the image job ended without an image' };
      return this.#status.show(textMessage(`:warning: ${slackErrorText(error)}`));
    }
    const p = (this.#shown.job?.payload ?? {}) as Record<string, Json>;
    const details = imageDetails(p, image) + (v.source ? ` · ${v.source.text}` : '');
    if (!this.#uploaded) {
      const prompt = typeof p.prompt === 'string' ? p.prompt : 'image';
      await this.#deps.api.upload({
        channel: this.#origin.channel,
        ...(this.#origin.thread ? { thread: this.#origin.thread } : {}),
        bytes: image.png,
        filename: `hearth-${typeof p.seed === 'number' ? p.seed : this.#jobId}.png`,
        title: prompt.slice(0, 250),
        altText: prompt.slice(0, 1000),
        comment: `<@${this.#origin.user}>: *${escapeMrkdwn(prompt.slice(0, 2000))}*\n${details}`,
      });
      this.#uploaded = true;
    }
    await this.#status.show(textMessage(`:frame_with_picture: Done — ${details}`, { buttons: [rerollButton(this.#jobId), ...(this.#deps.vary === false ? [] : varyButtons(this.#jobId))] }));
  }

  /** A caption of its own (Slack has no /caption today; kept so every kind shows). */
  async #flushCaption(): Promise<void> {
    const v = this.#view;
    if (v.phase === 'queued' || v.phase === 'waiting') return this.#status.show(this.#queuedMessage());
    if (v.phase === 'running') return this.#status.show(textMessage('_Looking at your image…_', { buttons: [cancelButton(this.#jobId)] }));
    if (v.phase === 'cancelled') return this.#status.show(textMessage(this.#cancelledText()));
    if (v.phase === 'failed') return this.#status.show(textMessage(this.#errorText()));
    return this.#status.show(textMessage(escapeMrkdwn(v.result?.text ?? '(no description)')));
  }
}

/** "seed 7 · 768×512 · 20 steps · euler" */
export function imageDetails(p: Record<string, Json>, image: { width: number; height: number }): string {
  const parts = [`seed ${String(p.seed)}`, `${image.width}×${image.height}`];
  if (typeof p.steps === 'number') parts.push(`${p.steps} steps`);
  if (typeof p.scheduler === 'string') parts.push(samplerLabel(p.scheduler));
  if (typeof p.negativePrompt === 'string' && p.negativePrompt.length > 0) parts.push(`no: ${escapeMrkdwn(p.negativePrompt.slice(0, 200))}`);
  return parts.join(' · ');
}
