import type { ErrorInfo, JobRecord } from '../../engine/types.js';
import { captionOptionsOf, imageOptionsOf } from '../../jobs/index.js';
import { emptyView, failView, roleOf } from '../../views/job-view-model.js';
import type { ViewChange } from '../../views/job-views.js';
import { discordFailure, isMessageGone, isTokenGone } from './errors.js';
import type { DiscordOrigin, PostedMessage, PostingIntent } from './origin.js';
import { CLOCK_MARGIN_MS, findOrphans, newestId, snowflakeAt } from './orphans.js';
import { sourcesOf } from '../../views/sources.js';
import { render, type ViewState } from './render.js';
import type { DiscordRest, OutMessage } from './rest-client.js';
import { ThrottledEditor } from '../../views/throttled-editor.js';
import { problemText } from './words.js';

export interface ViewDeps {
  rest: DiscordRest;
  /** Least time between two edits of one message, ms (`discord.editIntervalMs`). */
  intervalMs: number;
  /** How long an interaction token is used before answering in the channel instead, ms. */
  tokenLifetimeMs: number;
  now: () => number;
  report: (error: unknown, where: string) => void;
  /** Waits while interactions are being acknowledged (they come first). */
  beforeSend?: () => Promise<void>;
  /**
   * Keeps (durably, in the jobs' origins) the messages a view posted besides its reply, so an answer
   * that starts over after a restart can remove them. `jobIds`: the view's jobs whose end is not
   * delivered yet (an ended job's origin is still written until then: the final render may post).
   * `posting`: set while a new message is being asked for (replaces what was there; absent clears it).
   */
  record?: (jobIds: readonly string[], posted: readonly PostedMessage[], posting?: PostingIntent) => void;
  /** Whether a message belongs to a job being shown (any view): never taken back as left behind. */
  owned?: (channelId: string, id: string) => boolean;
  /** When this process began showing views (hearth's clock, ms): nothing newer is a crashed run's. */
  startedAt?: number;
  /** Looking for a left-behind message failed (the channel cannot be read): told once per channel. */
  searchFailed?: (channelId: string, error: unknown) => void;
  /** False when the image model cannot start from an image (`CommandLimits.image.fromImage`): pictures get no Vary buttons. */
  vary?: boolean;
}

type Address = { via: 'interaction'; id: string } | { via: 'channel'; channelId: string; id: string };

interface Slot {
  index: number;
  address: Address | null;
  editor: ThrottledEditor<OutMessage>;
  /** Signature of the payload last handed to the editor, so unchanged messages are not edited. */
  shown: string | null;
  /** A mention put before the content of a message posted in the channel after the token ran out. */
  prefix: string;
}

/**
 * The messages that answer one command: the interaction's reply (or a message hearth posted) and the
 * messages that continue it. Turns the job's events into throttled edits, and moves to the channel
 * (or the user's DMs, for private answers) once the interaction token can no longer be used.
 */
export class JobView {
  readonly origin: DiscordOrigin;
  readonly #deps: ViewDeps;
  readonly #state: ViewState;
  readonly #slots: Slot[] = [];
  #mode: 'interaction' | 'channel';
  #fallback = false;
  #mentioned = false;
  #channelId: string | null = null;
  #chain: Promise<unknown> = Promise.resolve();
  #ended = false;
  #gone = false;
  #done: Promise<void> | undefined;
  /** The preview step the message already shows: it is not uploaded again with every progress edit. */
  #previewShown = -1;
  readonly #previewOf = new WeakMap<OutMessage, number>();
  /**
   * Jobs of this view whose end is not delivered yet, ended ones too: their origins record what the
   * view posted and is posting, also a message only the final render needs (a follow-up once sources
   * or buttons make the answer longer), so a restart's re-delivered end finds it.
   */
  readonly #undelivered = new Set<string>();
  /** Messages of an earlier run being removed; recorded until they are gone, so a second restart retries. */
  readonly #removing = new Map<string, PostedMessage>();
  readonly #removed = new Set<string>();
  #searched = false;
  /** Records the end as delivered (from the final change); called once the final messages went out. */
  #confirm: (() => void) | undefined;
  /** Deliveries that failed: any after the end was set means it did not reach the person. */
  #failures = 0;

  constructor(origin: DiscordOrigin, deps: ViewDeps) {
    this.origin = origin;
    this.#deps = deps;
    this.#mode = origin.interaction ? 'interaction' : 'channel';
    this.#state = { command: origin.command, view: emptyView() };
    if (origin.maxUploadBytes !== undefined) this.#state.maxUploadBytes = origin.maxUploadBytes;
    if (deps.vary === false) this.#state.vary = false;
  }

  /** True once the view has its final content (it may still be sending it). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Resolves when the final content has been delivered. */
  get done(): Promise<void> {
    return this.#done ?? Promise.resolve();
  }

  /**
   * Shows a change of the command's shared view (see src/views): the state is decided there, once for
   * every face; this only turns it into Discord messages.
   */
  show(change: ViewChange<DiscordOrigin>): void {
    if (this.#ended) return;
    const { view, job } = change;
    if (job && job.deliveredAt === null) this.#undelivered.add(job.id);
    if (job && roleOf(job) === 'main' && this.#state.jobId !== job.id) this.#adopt(job);
    if (change.delivered) this.#confirm = change.delivered;
    const s = this.#state;
    s.view = view;
    if (view.jobId) s.jobId = view.jobId;
    if (view.phase === 'failed') {
      this.fail(view.error ?? { code: 'RUNNER_FAILED', message: 'the job failed' });
      return;
    }
    if (view.phase === 'done' || view.phase === 'cancelled') {
      this.#finish();
      return;
    }
    this.#render();
  }

  /**
   * Messages posted for this answer by an earlier run of hearth (listed in a recovered job's origin).
   * The answer starts over from its first message, so they are removed before anything is posted again:
   * the final answer then shows once, with nothing of the first attempt left behind.
   */
  removeEarlier(recorded: readonly PostedMessage[]): void {
    const held = new Set(this.#slots.map((sl) => sl.address?.id));
    for (const r of recorded) {
      if (held.has(r.id) || this.#removed.has(r.id) || this.#removing.has(r.id)) continue;
      if (r.id === this.origin.message?.messageId) continue;
      this.#removing.set(r.id, r);
      void this.#serial(() => this.#removeEarlier(r)).catch((e: unknown) => this.#deps.report(e, 'discord: removing an earlier reply'));
    }
  }

  /**
   * The run before a restart was killed while asking Discord for a message of this answer (`posting`
   * in the recovered origin): its message is looked for and removed before anything is posted again.
   */
  lookForLeftBehind(intent: PostingIntent): void {
    if (this.#searched) return;
    this.#searched = true;
    void this.#serial(() => this.#takeBackOrphans(intent)).catch((e: unknown) => this.#deps.report(e, 'discord: removing a left-behind reply'));
  }

  /** Whether this view knows the message as its own (posted now, by the run before, or its origin's). */
  owns(channelId: string, id: string): boolean {
    if (id === this.origin.message?.messageId || this.#removing.has(id) || this.#removed.has(id)) return true;
    return this.#slots.some((sl) => sl.address?.id === id && (sl.address.via === 'interaction' || sl.address.channelId === channelId));
  }

  /** The command or its job failed: the user is told in plain words, privately where Discord allows it. */
  fail(error: ErrorInfo): void {
    if (this.#ended) return;
    const s = this.#state;
    s.view = failView(s.view, error);
    if (s.view.phase !== 'failed') s.view = { ...s.view, phase: 'failed', error };
    const keepsText = s.command === 'ask' && s.view.text.trim() !== '';
    if (this.#mode === 'interaction' && !this.origin.ephemeral && !keepsText) {
      this.#ended = true;
      this.#done = this.#failPrivately(problemText(error));
      return;
    }
    this.#finish();
  }

  /** Waits (at most `timeoutMs`) for what is being sent, then stops. */
  async close(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.#slots.map((sl) => sl.editor.idle())),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
    for (const sl of this.#slots) sl.editor.dispose();
  }

  #adopt(job: JobRecord): void {
    const s = this.#state;
    s.jobId = job.id;
    const image = imageOptionsOf(job);
    if (image) s.image = image;
    const question = captionOptionsOf(job)?.question;
    if (question !== undefined) s.question = question;
    const sources = sourcesOf(job);
    if (sources.length > 0) s.sources = sources;
  }

  #render(): void {
    this.#payloads().forEach((p, i) => this.#set(i, p));
  }

  #payloads(): OutMessage[] {
    const payloads = render(this.#state);
    const preview = this.#state.view.preview;
    const first = payloads[0];
    if (preview && first?.files?.[0]?.name === 'preview.png') {
      if (preview.step === this.#previewShown) delete first.files;
      else this.#previewOf.set(first, preview.step);
    }
    return payloads;
  }

  #finish(): void {
    this.#ended = true;
    const failures = this.#failures;
    const payloads = this.#payloads();
    payloads.forEach((p, i) => this.#set(i, p));
    const extra = this.#slots.slice(payloads.length);
    this.#done = (async () => {
      await Promise.all(this.#slots.map((sl) => sl.editor.idle()));
      // A retried chat that came out shorter than its first attempt leaves messages to remove.
      for (const sl of extra) await this.#serial(() => this.#remove(sl));
      for (const sl of this.#slots) sl.editor.dispose();
      if (this.#failures === failures) this.#delivered();
    })().catch((e: unknown) => this.#deps.report(e, 'discord: finishing a reply'));
  }

  #set(index: number, payload: OutMessage): void {
    let slot = this.#slots[index];
    if (!slot) {
      slot = this.#newSlot(index);
      this.#slots[index] = slot;
    }
    const sig = signature(payload);
    if (sig === slot.shown) return;
    slot.shown = sig;
    slot.editor.set(payload);
  }

  #newSlot(index: number): Slot {
    let address: Address | null = null;
    if (index === 0 && this.#mode === 'interaction') address = { via: 'interaction', id: '@original' };
    else if (index === 0 && this.origin.message) address = { via: 'channel', channelId: this.origin.message.channelId, id: this.origin.message.messageId };
    const slot: Slot = {
      index,
      address,
      shown: null,
      prefix: '',
      editor: new ThrottledEditor<OutMessage>({
        intervalMs: this.#deps.intervalMs,
        now: this.#deps.now,
        deliver: (p) =>
          this.#deliver(slot, p).catch((e: unknown) => {
            this.#failures++;
            throw e;
          }),
        onError: (e) => this.#deps.report(e, `discord: ${this.origin.command} reply`),
      }),
    };
    return slot;
  }

  /** One request at a time per view, so continuation messages are created in order. */
  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(task);
    this.#chain = run.catch(() => {});
    return run;
  }

  #deliver(slot: Slot, payload: OutMessage): Promise<void> {
    return this.#serial(async () => {
      await this.#deps.beforeSend?.();
      if (this.#gone) return;
      if (this.#mode === 'interaction' && this.#tokenExpired()) this.#toChannel();
      try {
        await this.#put(slot, payload);
        const step = this.#previewOf.get(payload);
        if (step !== undefined) this.#previewShown = step;
      } catch (e) {
        if (this.#mode === 'interaction' && isTokenGone(e)) {
          this.#toChannel();
          this.#previewShown = -1;
          await this.#put(slot, payload);
          return;
        }
        if (isMessageGone(e)) {
          // Deleted or dismissed by the user: nothing left to update.
          this.#gone = true;
          return;
        }
        throw discordFailure(e, 'updating a reply');
      }
    });
  }

  async #put(slot: Slot, p: OutMessage): Promise<void> {
    const rest = this.#deps.rest;
    const token = this.origin.interaction?.token;
    if (slot.address && slot.address.via !== this.#mode) slot.address = null;
    const a = slot.address;
    if (a?.via === 'interaction' && token) {
      if (a.id === '@original') await rest.editOriginal(token, p);
      else await rest.editFollowup(token, a.id, p);
      return;
    }
    if (a?.via === 'channel') {
      await rest.edit(a.channelId, a.id, withPrefix(slot, p));
      return;
    }
    if (this.#mode === 'interaction' && token) {
      if (slot.index === 0) {
        slot.address = { via: 'interaction', id: '@original' };
        await rest.editOriginal(token, p);
      } else {
        // An ephemeral follow-up is in no channel's history: no search could find it, nothing to record.
        if (!this.origin.ephemeral) this.#record(this.#intent('interaction', this.origin.channelId));
        const m = await rest.followup(token, { ...p, ephemeral: this.origin.ephemeral });
        slot.address = { via: 'interaction', id: m.id };
        this.#record();
      }
      return;
    }
    const channelId = await this.#targetChannel();
    if (this.#fallback && !this.origin.ephemeral && !this.#mentioned) {
      // The answer now lands in the channel, away from the command: say whose it is.
      this.#mentioned = true;
      slot.prefix = `<@${this.origin.userId}> `;
    }
    this.#record(this.#intent('channel', channelId));
    const m = await rest.send(channelId, withPrefix(slot, p));
    slot.address = { via: 'channel', channelId, id: m.id };
    this.#record();
  }

  /**
   * What is stored before a new message is asked for: the newest snowflake known (the interaction,
   * the origin's message, every message of this answer). A channel message is matched loosely (see
   * orphans.ts), so its search starts no earlier than shortly before now.
   */
  #intent(via: PostingIntent['via'], channelId: string): PostingIntent {
    const known = [this.origin.interaction?.id, this.origin.message?.messageId, ...this.#slots.map((sl) => sl.address?.id), ...this.#removing.keys(), ...this.#removed];
    if (via === 'channel') known.push(snowflakeAt(this.#deps.now() - CLOCK_MARGIN_MS));
    return { via, channelId, after: newestId(known) ?? '0' };
  }

  /**
   * Finds the message the run before made and never heard back of, and removes it first (recorded
   * as being removed until it is gone, so a second restart retries). A channel that cannot be read
   * is reported and the answer goes on. The intent is cleared once looked for.
   */
  async #takeBackOrphans(intent: PostingIntent): Promise<void> {
    const interactionId = this.origin.interaction?.id;
    let found: string[] = [];
    try {
      const startedAt = this.#deps.startedAt;
      found = await findOrphans(this.#deps.rest, {
        ...intent,
        botUserId: await this.#deps.rest.botUserId(),
        ...(interactionId ? { interactionId } : {}),
        ...(startedAt !== undefined ? { before: snowflakeAt(startedAt) } : {}),
        owned: (c, id) => this.owns(c, id) || (this.#deps.owned?.(c, id) ?? false),
      });
    } catch (e) {
      if (this.#deps.searchFailed) this.#deps.searchFailed(intent.channelId, e);
      else this.#deps.report(discordFailure(e, 'looking for a reply left behind'), 'discord: finding a left-behind reply');
    }
    const left = found.map((id): PostedMessage => ({ via: intent.via, channelId: intent.channelId, id }));
    for (const r of left) this.#removing.set(r.id, r);
    this.#record();
    for (const r of left) await this.#removeEarlier(r);
  }

  /** The end reached the person: its jobs are recorded delivered, and their origins are no longer written. */
  #delivered(): void {
    this.#confirm?.();
    this.#undelivered.clear();
  }

  /** Writes down every message this view posted besides its reply (and those it is still removing). */
  #record(posting?: PostingIntent): void {
    if (this.#undelivered.size === 0 || !this.#deps.record) return;
    const posted: PostedMessage[] = [...this.#removing.values()];
    for (const sl of this.#slots) {
      const a = sl.address;
      if (!a) continue;
      if (a.via === 'interaction' && a.id !== '@original') posted.push({ via: 'interaction', channelId: this.origin.channelId, id: a.id });
      else if (a.via === 'channel' && a.id !== this.origin.message?.messageId) posted.push({ via: 'channel', channelId: a.channelId, id: a.id });
    }
    try {
      this.#deps.record([...this.#undelivered], posted, posting);
    } catch (e) {
      this.#deps.report(e, 'discord: recording a reply');
    }
  }

  /**
   * Deletes a message of an earlier run: a follow-up through the interaction while its token works,
   * else (unless private, which only the token reaches) as the bot's own message in its channel.
   */
  async #removeEarlier(r: PostedMessage): Promise<void> {
    const rest = this.#deps.rest;
    const token = this.origin.interaction?.token;
    try {
      let done = false;
      if (r.via === 'interaction' && token && !this.#tokenExpired()) {
        try {
          await rest.deleteFollowup(token, r.id);
          done = true;
        } catch (e) {
          if (!isTokenGone(e)) throw e;
        }
      }
      if (!done && (r.via === 'channel' || !this.origin.ephemeral)) await rest.deleteMessage(r.channelId, r.id);
    } catch (e) {
      if (!isMessageGone(e)) throw discordFailure(e, 'removing an earlier reply');
    }
    this.#removing.delete(r.id);
    this.#removed.add(r.id);
  }

  async #remove(slot: Slot): Promise<void> {
    const a = slot.address;
    const token = this.origin.interaction?.token;
    try {
      if (a?.via === 'interaction' && token && a.id !== '@original') await this.#deps.rest.deleteFollowup(token, a.id);
      else if (a?.via === 'channel') await this.#deps.rest.deleteMessage(a.channelId, a.id);
    } catch (e) {
      if (!isMessageGone(e) && !isTokenGone(e)) throw discordFailure(e, 'removing a reply');
    }
  }

  #tokenExpired(): boolean {
    const i = this.origin.interaction;
    return !i || this.#deps.now() >= i.createdAt + this.#deps.tokenLifetimeMs;
  }

  #toChannel(): void {
    this.#mode = 'channel';
    this.#fallback = true;
  }

  async #targetChannel(): Promise<string> {
    if (this.#channelId) return this.#channelId;
    if (this.origin.message && !this.#fallback) this.#channelId = this.origin.message.channelId;
    else if (this.origin.ephemeral && this.origin.guildId !== null) this.#channelId = (await this.#deps.rest.openDm(this.origin.userId)).id;
    else this.#channelId = this.origin.channelId;
    return this.#channelId;
  }

  /**
   * A public reply that failed is replaced by a note only its user sees. The reply is edited before the
   * ephemeral follow-up: Discord turns the first follow-up of a still-deferred reply into that reply
   * (public), whatever its flags say.
   */
  async #failPrivately(words: string): Promise<void> {
    for (const sl of this.#slots) sl.editor.dropPending();
    await Promise.all(this.#slots.map((sl) => sl.editor.idle()));
    for (const sl of this.#slots) sl.editor.dispose();
    const token = this.origin.interaction?.token;
    const rest = this.#deps.rest;
    await this.#serial(async () => {
      if (this.#gone) return;
      try {
        if (this.#mode !== 'interaction' || !token || this.#tokenExpired()) throw new TokenGone();
        if (!this.#slots[0] || this.#slots[0].editor.deliveries === 0) await rest.editOriginal(token, { content: '⚠️', components: [] });
        await rest.followup(token, { content: `⚠️ ${words}`, ephemeral: true });
        await rest.deleteOriginal(token);
        for (const sl of this.#slots.slice(1)) await this.#remove(sl);
      } catch (e) {
        if (!(e instanceof TokenGone) && !isTokenGone(e)) throw discordFailure(e, 'reporting a failed job');
        this.#toChannel();
        const channelId = await this.#targetChannel();
        const mention = this.origin.ephemeral ? '' : `<@${this.origin.userId}> `;
        await rest.send(channelId, { content: `${mention}⚠️ ${words}`, mentionUsers: [this.origin.userId] });
      }
    }).then(
      () => this.#delivered(),
      (e: unknown) => this.#deps.report(e, 'discord: reporting a failed job'),
    );
  }
}

class TokenGone extends Error {}

function withPrefix(slot: Slot, p: OutMessage): OutMessage {
  if (!slot.prefix) return p;
  return { ...p, content: slot.prefix + p.content, mentionUsers: [slot.prefix.replace(/\D/g, '')] };
}

function signature(p: OutMessage): string {
  const files = p.files?.map((f) => `${f.name}:${f.data.byteLength}:${f.description ?? ''}`).join(',') ?? '';
  return `${p.content}\u0000${JSON.stringify(p.components ?? null)}\u0000${files}\u0000${p.clearAttachments ? 1 : 0}`;
}
