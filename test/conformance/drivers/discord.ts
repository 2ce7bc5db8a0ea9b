/**
 * Drives the Discord bot through the fake Discord (test/fakes/discord), as server members would:
 * slash commands with the options hearth registered, an uploaded attachment, the Cancel button.
 * `/ask` in the server's channel opens a hearth thread (`discord.threadPerAsk`), where follow-ups and
 * /forget go. What people see is what the fake holds: messages with every version of them, and
 * ephemeral replies.
 */
import { rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { HearthApp } from '../../../src/app/hearth-app.js';
import { buttonIds, ephemeralText } from '../../fakes/discord/assertions.js';
import { EPHEMERAL, FakeDiscord, LOADING, type FakeChannel, type FakeInteraction, type FakeMessage, type OptionValue } from '../../fakes/discord/fake-discord.js';
import { discordHearth, type DiscordHearth } from '../../fakes/discord/harness.js';
import { SimFaults } from '../../helpers/sim-faults.js';
import type { Answer, AskOptions, Capabilities, CaptionShown, ConformanceSetup, Conversation, DriverUser, ImagineOptions, PendingAsk, Picture, PlatformDriver, Shown, Variation } from '../driver.js';
import { answerViews, isFinal, jobIds, newJob, textOf, waitUntil } from '../support.js';

const CURSOR = /\s*▌\s*$/;

/** A question's interaction (its reply and follow-ups show the answer), and the conversation it was asked in. */
interface AskHandle {
  it: FakeInteraction;
  conversation: Conversation | undefined;
}

type Def = { name: string; options?: Array<{ name: string; description?: string; min_value?: number; max_value?: number; choices?: Array<{ name?: string; value: unknown }> }> };

function visibility(m: FakeMessage): 'ephemeral' | 'public' {
  return (m.flags & EPHEMERAL) !== 0 ? 'ephemeral' : 'public';
}

/** A reply that shows something final: there, not deleted, not "thinking…", no Cancel button. */
function settled(m: FakeMessage | undefined): m is FakeMessage {
  // A bare "⚠️" is the public reply on its way out: hearth posts the private note, then deletes it.
  return !!m && !m.deleted && (m.flags & LOADING) === 0 && m.content !== '' && m.content !== '⚠️' && !buttonIds(m).some((id) => id.startsWith('hearth:cancel:'));
}

export class DiscordDriver implements PlatformDriver {
  readonly name = 'discord';
  readonly capabilities: Capabilities = { ephemeral: true, caption: 'command', conversations: 'per-ask', optionBounds: true, options: 'registered' };
  readonly secrets: readonly string[];
  readonly faults: SimFaults;
  readonly #setup: ConformanceSetup;
  readonly #fake: FakeDiscord;
  #h: DiscordHearth;
  /** What earlier hearths (before a restart) handed to reportError. */
  readonly #earlier: string[] = [];
  readonly #users = new Map<string, ReturnType<FakeDiscord['user']>>();
  /** The interaction that started each image job (its reply shows the job). */
  readonly #started = new Map<string, FakeInteraction>();

  static async start(setup: ConformanceSetup): Promise<DiscordDriver> {
    const fake = await FakeDiscord.start({ token: `conformance-discord-${randomUUID()}.secret` });
    const faults = new SimFaults();
    const h = await DiscordDriver.#hearth(setup, fake, faults, {});
    return new DiscordDriver(fake, h, setup, faults);
  }

  static #hearth(setup: ConformanceSetup, fake: FakeDiscord, faults: SimFaults, opts: { dataDir?: string; describeGate?: Promise<void> }): Promise<DiscordHearth> {
    return discordHearth({
      fake,
      discord: { threadPerAsk: true, editIntervalMs: 250 },
      config: { limits: { maxQueuedPerUser: setup.maxQueuedPerUser } },
      chatStepMs: setup.chatStepMs,
      imageStepMs: setup.imageStepMs,
      faults,
      ...(setup.image ? { realImage: setup.image } : {}),
      ...opts,
    });
  }

  private constructor(fake: FakeDiscord, h: DiscordHearth, setup: ConformanceSetup, faults: SimFaults) {
    this.#fake = fake;
    this.#h = h;
    this.#setup = setup;
    this.faults = faults;
    this.secrets = [fake.token];
  }

  get app(): HearthApp {
    return this.#h.app;
  }

  async user(name: string): Promise<DriverUser> {
    const u = this.#fake.user(name);
    this.#users.set(name, u);
    return { name, userId: `discord:${u.id}` };
  }

  async ask(user: DriverUser, prompt: string, opts: AskOptions = {}): Promise<Answer> {
    return this.answer(await this.startAsk(user, prompt, opts));
  }

  async startAsk(user: DriverUser, prompt: string, opts: AskOptions = {}): Promise<PendingAsk> {
    const before = new Set(jobIds(this.app, user.userId, 'chat'));
    const channel = opts.conversation ? this.#channel(opts.conversation.key) : this.#fake.channel;
    const options: Record<string, OptionValue> = { prompt };
    if (opts.image) options.image = this.#fake.upload('photo.png', opts.image, 'image/png');
    const it = this.#slash('ask', options, user, channel);
    const job = await newJob(this.app, user.userId, 'chat', before, '/ask');
    const handle: AskHandle = { it, conversation: opts.conversation };
    // The conversation is known once the reply opened its thread (see answer); until then, the channel's.
    return { jobId: job.id, conversation: opts.conversation ?? { key: channel.id }, handle };
  }

  async answer(asked: PendingAsk): Promise<Answer> {
    const { it, conversation } = asked.handle as AskHandle;
    const parts = await waitUntil(
      'the finished answer',
      () => {
        if (!isFinal(this.app, asked.jobId)) return undefined;
        const msgs = [this.#fake.original(it), ...this.#fake.followups(it)];
        if (!msgs.every((m): m is FakeMessage => !!m && !m.deleted && m.content !== '')) return undefined;
        const last = msgs[msgs.length - 1]!;
        return !CURSOR.test(last.content) && msgs.every((m) => m.components.length === 0) ? msgs : undefined;
      },
      { ms: 15_000, last: () => textOf([this.#fake.original(it), ...this.#fake.followups(it)].map((m) => m?.content)) },
    );
    const text = parts.map((m) => m.content).join('');
    const views = answerViews(parts.map((m) => ({ history: m.history, final: m.content })), text, (s) => s.replace(CURSOR, ''));
    // A new /ask in the channel opens a thread on its reply; in a thread it continues that thread.
    const key = conversation?.key ?? (await waitUntil('the thread of the answer', () => this.#fake.state.channels.get(parts[0]!.id))).id;
    return { text, views, jobId: asked.jobId, conversation: { key } };
  }

  /**
   * Every message of the bot that is there since the question was asked, in the channel it was asked in
   * and in the thread opened on its reply: the reply, its follow-ups, and anything posted instead.
   */
  async shows(asked: PendingAsk): Promise<string[]> {
    const { it } = asked.handle as AskHandle;
    const reply = this.#fake.original(it);
    const where = new Set([it.channelId, ...(reply ? [reply.id] : [])]);
    return [...this.#fake.state.messages.values()]
      .filter((m) => m.authorId === this.#fake.bot.id && !m.deleted && where.has(m.channelId) && m.createdAt >= it.dispatchedAt && (m.flags & LOADING) === 0)
      .sort((a, b) => a.createdAt - b.createdAt)
      .map((m) => m.content.replace(CURSOR, ''));
  }

  async restart(opts: { describeGate?: Promise<void> } = {}): Promise<void> {
    const old = this.#h;
    this.#earlier.push(...old.reported.map((r) => `${r.where}: ${r.message}`));
    await old.stop();
    await old.started.catch(() => {});
    old.app.store.close();
    this.#h = await DiscordDriver.#hearth(this.#setup, this.#fake, this.faults, { dataDir: old.dataDir, ...opts });
  }

  async forget(user: DriverUser, conversation: Conversation): Promise<Shown> {
    const it = this.#slash('forget', {}, user, this.#channel(conversation.key));
    const m = await waitUntil('the forget answer', () => {
      const o = this.#fake.original(it);
      return settled(o) ? o : undefined;
    });
    return { text: m.content, visibility: visibility(m) };
  }

  async imagine(user: DriverUser, opts: ImagineOptions): Promise<Picture> {
    const { jobId, it } = await this.#imagine(user, opts);
    const m = await waitUntil(
      'the picture',
      () => {
        const o = this.#fake.original(it);
        return o && !o.deleted && isFinal(this.app, jobId) && o.attachments.some((a) => a.content_type === 'image/png') ? o : undefined;
      },
      { ms: 15_000 },
    );
    const file = m.attachments.find((a) => a.content_type === 'image/png')!;
    const seed = /\bseed\W{0,3}(\d+)/.exec(m.content)?.[1];
    return { png: file.bytes, text: m.content, seed: seed === undefined ? undefined : Number(seed), jobId };
  }

  async startImagine(user: DriverUser, opts: ImagineOptions): Promise<{ jobId: string }> {
    return { jobId: (await this.#imagine(user, opts)).jobId };
  }

  async refusedImagine(user: DriverUser, opts: ImagineOptions): Promise<Shown> {
    const before = new Set(jobIds(this.app, user.userId));
    const it = this.#slash('imagine', this.#imagineOptions(opts), user);
    return waitUntil('the refusal', () => {
      const accepted = jobIds(this.app, user.userId).find((id) => !before.has(id));
      if (accepted) throw new Error(`Discord accepted the image (job ${accepted}) instead of refusing it`);
      const note = ephemeralText(this.#fake, it);
      if (note) return { text: note, visibility: 'ephemeral' as const };
      const o = this.#fake.original(it);
      return settled(o) ? { text: o.content, visibility: visibility(o) } : undefined;
    });
  }

  async caption(user: DriverUser, png: Uint8Array): Promise<CaptionShown> {
    const before = new Set(jobIds(this.app, user.userId, 'caption'));
    const it = this.#slash('caption', { image: this.#fake.upload('photo.png', png, 'image/png') }, user);
    const job = await newJob(this.app, user.userId, 'caption', before, '/caption');
    const m = await waitUntil('the caption', () => {
      const o = this.#fake.original(it);
      return isFinal(this.app, job.id) && settled(o) ? o : undefined;
    });
    return { text: m.content, jobId: job.id };
  }

  /** Presses the Vary button on the picture's message; the variation answers the press in a new message. */
  async vary(user: DriverUser, jobId: string, variation: 'subtle' | 'strong'): Promise<Variation> {
    const it = this.#started.get(jobId);
    if (!it) throw new Error(`job ${jobId} was not started through this driver`);
    const id = `hearth:vary-${variation}:${jobId}`;
    const shown = await waitUntil('the Vary button', () => {
      const o = this.#fake.original(it);
      return o && !o.deleted && buttonIds(o).includes(id) ? o : undefined;
    });
    const before = new Set(jobIds(this.app, user.userId, 'image'));
    const press = this.#fake.click(shown, id, { user: this.#user(user) });
    const job = await newJob(this.app, user.userId, 'image', before, 'Vary');
    this.#started.set(job.id, press);
    const m = await waitUntil(
      'the variation',
      () => {
        const o = this.#fake.original(press);
        return o && !o.deleted && isFinal(this.app, job.id) && o.attachments.some((a) => a.content_type === 'image/png') ? o : undefined;
      },
      { ms: 15_000, last: () => textOf(this.#fake.original(press)?.content) },
    );
    return { jobId: job.id, text: m.content, png: m.attachments.find((a) => a.content_type === 'image/png')!.bytes };
  }

  /** /imagine's registered options: their descriptions and the names of their choices. */
  async imagineChoices(): Promise<string> {
    return (this.#imagineDef().options ?? []).map((o) => `${o.name}: ${o.description ?? ''} [${(o.choices ?? []).map((c) => c.name ?? '').join(', ')}]`).join('\n');
  }

  async varyButtons(jobId: string): Promise<string[]> {
    const it = this.#started.get(jobId);
    if (!it) throw new Error(`job ${jobId} was not started through this driver`);
    const shown = await waitUntil('the finished picture with its Reroll button', () => {
      const o = this.#fake.original(it);
      return o && !o.deleted && buttonIds(o).includes(`hearth:reroll:${jobId}`) ? o : undefined;
    });
    return buttonIds(shown).flatMap((id) => /^hearth:vary-(\w+):/.exec(id)?.[1] ?? []);
  }

  /** Both of /imagine's image-to-image options are registered. */
  async offersStartImage(): Promise<boolean> {
    const names = (this.#imagineDef().options ?? []).map((o) => o.name);
    return names.includes('image') && names.includes('strength');
  }

  async cancel(user: DriverUser, jobId: string): Promise<Shown> {
    const it = this.#started.get(jobId);
    if (!it) throw new Error(`job ${jobId} was not started through this driver`);
    const cancelId = `hearth:cancel:${jobId}`;
    const shown = await waitUntil('the Cancel button', () => {
      const o = this.#fake.original(it);
      return o && !o.deleted && buttonIds(o).includes(cancelId) ? o : undefined;
    });
    const press = this.#fake.click(shown, cancelId, { user: this.#user(user) });
    await waitUntil('the job ended', () => isFinal(this.app, jobId), { last: () => textOf(this.#fake.ephemeralOf(press).map((m) => m.content)) });
    const m = await waitUntil('the cancel shown', () => {
      const o = this.#fake.original(it);
      return settled(o) ? o : undefined;
    });
    return { text: m.content, visibility: visibility(m) };
  }

  async offeredCommands(): Promise<string[]> {
    return this.#fake.commands().map((c) => c.name);
  }

  async declaredStepsRange(): Promise<{ min?: number; max: number } | undefined> {
    const steps = this.#imagineDef().options?.find((o) => o.name === 'steps');
    if (steps?.max_value === undefined) return undefined;
    return { max: steps.max_value, ...(steps.min_value !== undefined ? { min: steps.min_value } : {}) };
  }

  async exposed(): Promise<{ shown: string[]; recorded: string[] }> {
    const s = this.#fake.state;
    const messages = [...s.messages.values()].filter((m) => m.authorId === this.#fake.bot.id);
    const shown = messages.flatMap((m) => [m.content, ...m.history, ...m.attachments.map((a) => `${a.filename} ${a.description ?? ''}`)]);
    // Everything else hearth sent: message components, interaction callbacks, registered commands,
    // channels it made (thread names). The bot token travels only in Authorization headers (not kept).
    const recorded = [textOf(messages), textOf([...s.interactions.values()].map((i) => i.callbacks)), textOf([...s.commands.values()]), textOf([...s.channels.values()])];
    return { shown, recorded };
  }

  reported(): string[] {
    return [...this.#earlier, ...this.#h.reported.map((r) => `${r.where}: ${r.message}`), ...this.#fake.state.unexpected.map((u) => `unexpected request ${u}`)];
  }

  async close(): Promise<void> {
    this.faults.clear();
    try {
      await this.#h.stop();
      await this.#h.started.catch(() => {});
      await this.#fake.close();
    } finally {
      this.app.store.close();
      rmSync(this.#h.dataDir, { recursive: true, force: true });
    }
  }

  #user(user: DriverUser): ReturnType<FakeDiscord['user']> {
    const u = this.#users.get(user.name);
    if (!u) throw new Error(`unknown user ${user.name}`);
    return u;
  }

  #channel(id: string): FakeChannel {
    const c = this.#fake.state.channels.get(id);
    if (!c) throw new Error(`no channel ${id} in the fake Discord`);
    return c;
  }

  #slash(command: string, options: Record<string, OptionValue>, user: DriverUser, channel?: FakeChannel): FakeInteraction {
    return this.#fake.slash(command, options, { user: this.#user(user), ...(channel ? { channel } : {}) });
  }

  #imagineDef(): Def {
    const def = (this.#fake.commands() as Def[]).find((c) => c.name === 'imagine');
    if (!def) throw new Error('/imagine is not registered');
    return def;
  }

  /** The options as a Discord user picks them: the size only from the registered choices. */
  #imagineOptions(o: ImagineOptions): Record<string, OptionValue> {
    const out: Record<string, OptionValue> = { prompt: o.prompt };
    if (o.width !== undefined || o.height !== undefined) {
      const size = `${o.width ?? o.height}x${o.height ?? o.width}`;
      const choices = this.#imagineDef().options?.find((x) => x.name === 'size')?.choices?.map((c) => c.value);
      if (choices && !choices.includes(size)) throw new Error(`size ${size} is not one of the registered choices (${choices.join(', ')})`);
      out.size = size;
    }
    if (o.steps !== undefined) out.steps = o.steps;
    if (o.seed !== undefined) out.seed = o.seed;
    if (o.guidance !== undefined) out.guidance = o.guidance;
    if (o.image) out.image = this.#fake.upload('start.png', o.image, 'image/png');
    if (o.strength !== undefined) out.strength = o.strength;
    return out;
  }

  async #imagine(user: DriverUser, opts: ImagineOptions): Promise<{ jobId: string; it: FakeInteraction }> {
    const before = new Set(jobIds(this.app, user.userId, 'image'));
    const it = this.#slash('imagine', this.#imagineOptions(opts), user);
    const job = await newJob(this.app, user.userId, 'image', before, '/imagine');
    this.#started.set(job.id, it);
    return { jobId: job.id, it };
  }
}
