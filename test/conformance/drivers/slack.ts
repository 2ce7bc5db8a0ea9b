/**
 * Drives the Slack app through the fake Slack (test/fakes/slack), as people in a workspace would:
 * slash commands, mentions in a thread, a shared file, the Cancel button. What they see is what the
 * fake holds: messages with every version of them (streams as appended), ephemeral replies (posted to
 * the command's response_url), uploaded files with their comment.
 *
 * Socket Mode runs against a Slack with the streaming methods (answers streamed), HTTP mode against
 * one without (answers edited in with chat.update), so both answer writers are held to the suite.
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { HearthApp } from '../../../src/app/hearth-app.js';
import { SLASH_COMMANDS } from '../../../src/bots/slack/index.js';
import { FakeSlack } from '../../fakes/slack/fake-slack.js';
import { SlackHarness } from '../../fakes/slack/harness.js';
import { mention } from '../../fakes/slack/payloads.js';
import { buttonsOf, shownText, type FakeMessage } from '../../fakes/slack/state.js';
import { SimFaults } from '../../helpers/sim-faults.js';
import type { Answer, AskOptions, Capabilities, CaptionShown, ConformanceSetup, Conversation, DriverUser, ImagineOptions, PendingAsk, Picture, PlatformDriver, Shown, Variation } from '../driver.js';
import { answerViews, isFinal, jobIds, newJob, textOf, waitUntil } from '../support.js';

const CHANNEL = 'CCONF';

/** Where a question's answer shows: its thread, and the thread's messages from before it. */
interface AskHandle {
  user: DriverUser;
  thread: string;
  seen: Set<string>;
}
const CANCEL = 'hearth_cancel';

/** Slack clients render the three entities mrkdwn escapes back as characters. */
function rendered(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** What a message shows: a stream's appended text, or a message's sections and small print. */
function shows(m: FakeMessage): string {
  return rendered(m.stream ? m.text : shownText(m));
}

function imagineText(o: ImagineOptions): string {
  const flags = [o.prompt];
  if (o.steps !== undefined) flags.push(`--steps ${o.steps}`);
  if (o.seed !== undefined) flags.push(`--seed ${o.seed}`);
  if (o.guidance !== undefined) flags.push(`--guidance ${o.guidance}`);
  if (o.width !== undefined || o.height !== undefined) flags.push(`--size ${o.width ?? o.height}x${o.height ?? o.width}`);
  if (o.strength !== undefined) flags.push(`--strength ${o.strength}`);
  return flags.join(' ');
}

export class SlackDriver implements PlatformDriver {
  readonly name: string;
  readonly capabilities: Capabilities = { ephemeral: true, caption: 'chat-context', conversations: 'per-ask', optionBounds: false, options: 'free' };
  readonly secrets: readonly string[];
  readonly faults: SimFaults;
  readonly #setup: ConformanceSetup;
  readonly #mode: 'socket' | 'http';
  #h: SlackHarness;
  /** What earlier hearths (before a restart) handed to reportError. */
  readonly #earlierErrors: string[] = [];

  static async start(setup: ConformanceSetup, mode: 'socket' | 'http'): Promise<SlackDriver> {
    const id = randomUUID();
    const fake = new FakeSlack({ botToken: `xoxb-conformance-${id}`, appToken: `xapp-conformance-${id}`, signingSecret: `conformance-signing-${id}` });
    await fake.start();
    fake.streaming = mode === 'socket';
    const faults = new SimFaults();
    const h = await SlackDriver.#hearth(setup, mode, fake, faults, {});
    return new SlackDriver(h, mode, setup, faults);
  }

  static #hearth(setup: ConformanceSetup, mode: 'socket' | 'http', fake: FakeSlack, faults: SimFaults, opts: { dataDir?: string; describeGate?: Promise<void> }): Promise<SlackHarness> {
    return SlackHarness.start({
      mode,
      fake,
      config: { limits: { maxQueuedPerUser: setup.maxQueuedPerUser } },
      chatStepMs: setup.chatStepMs,
      imageStepMs: setup.imageStepMs,
      faults,
      ...(setup.image ? { realImage: setup.image } : {}),
      ...opts,
    });
  }

  private constructor(h: SlackHarness, mode: 'socket' | 'http', setup: ConformanceSetup, faults: SimFaults) {
    this.#h = h;
    this.#mode = mode;
    this.#setup = setup;
    this.faults = faults;
    this.name = `slack (${mode})`;
    this.secrets = [h.fake.botToken, h.fake.appToken, h.fake.signingSecret];
  }

  get app(): HearthApp {
    return this.#h.app;
  }

  async user(name: string): Promise<DriverUser> {
    const id = `U${name.toUpperCase().replace(/[^A-Z0-9]/g, '')}`;
    return { name: id, userId: `slack:${id}` };
  }

  async ask(user: DriverUser, prompt: string, opts: AskOptions = {}): Promise<Answer> {
    return this.answer(await this.startAsk(user, prompt, opts));
  }

  /**
   * A question: /ask (a new thread hangs from the message it posts), or a mention in the thread of a
   * conversation; with an image, a mention with the image shared (slash commands take no files),
   * which opens a thread of its own.
   */
  async startAsk(user: DriverUser, prompt: string, opts: AskOptions = {}): Promise<PendingAsk> {
    const before = new Set(jobIds(this.app, user.userId, 'chat'));
    let handle: AskHandle;
    const files = opts.image ? [this.#h.fake.addFile(opts.image)] : undefined;
    if (opts.conversation) {
      const thread = opts.conversation.key;
      handle = { user, thread, seen: this.#threadTs(thread) };
      await this.#h.event(mention(prompt, { user: user.name, channel: CHANNEL, thread, ...(files ? { files } : {}) }).event);
    } else if (files) {
      const m = mention(prompt, { user: user.name, channel: CHANNEL, files });
      handle = { user, thread: m.ts, seen: new Set() };
      await this.#h.event(m.event);
    } else {
      const tops = this.#topTs();
      await this.#h.command('/ask', prompt, { user: user.name, channel: CHANNEL });
      handle = { user, thread: (await this.#newRoot(user, tops)).ts, seen: new Set() };
    }
    const job = await newJob(this.app, user.userId, 'chat', before, 'the question');
    return { jobId: job.id, conversation: { key: handle.thread }, handle };
  }

  answer(asked: PendingAsk): Promise<Answer> {
    return this.#answer(asked.jobId, asked.handle as AskHandle);
  }

  async shows(asked: PendingAsk): Promise<string[]> {
    const { thread, seen } = asked.handle as AskHandle;
    return this.#state.thread(CHANNEL, thread).filter((m) => !seen.has(m.ts)).map(shows);
  }

  async restart(opts: { describeGate?: Promise<void> } = {}): Promise<void> {
    const old = this.#h;
    this.#earlierErrors.push(...old.errors);
    await old.close();
    await old.started.catch(() => {});
    old.app.store.close();
    this.#h = await SlackDriver.#hearth(this.#setup, this.#mode, old.fake, this.faults, { dataDir: old.dataDir, ...opts });
  }

  async forget(user: DriverUser, conversation: Conversation): Promise<Shown> {
    // In a thread, forgetting is a mention with the word "forget" (README: /hearth forget is for DMs).
    const seen = this.#threadTs(conversation.key);
    await this.#h.event(mention('forget', { user: user.name, channel: CHANNEL, thread: conversation.key }).event);
    const m = await waitUntil('the forget answer', () => this.#state.thread(CHANNEL, conversation.key).find((x) => !seen.has(x.ts)));
    return { text: shows(m), visibility: 'public' };
  }

  async imagine(user: DriverUser, opts: ImagineOptions): Promise<Picture> {
    const { jobId, thread } = await this.#imagine(user, opts);
    const file = await waitUntil('the uploaded picture', () => this.#state.files.find((f) => f.channel === CHANNEL && f.thread === thread), { ms: 15_000 });
    const text = rendered(file.comment ?? '');
    const seed = /\bseed (\d+)/.exec(text)?.[1];
    return { png: file.bytes, text, seed: seed === undefined ? undefined : Number(seed), jobId };
  }

  async startImagine(user: DriverUser, opts: ImagineOptions): Promise<{ jobId: string }> {
    return { jobId: (await this.#imagine(user, opts)).jobId };
  }

  async refusedImagine(user: DriverUser, opts: ImagineOptions): Promise<Shown> {
    const before = new Set(jobIds(this.app, user.userId));
    const responses = this.#h.fake.responses.length;
    const ephemerals = this.#state.ephemerals.length;
    await this.#sendImagine(user, opts);
    return waitUntil('the refusal', () => {
      const accepted = jobIds(this.app, user.userId).find((id) => !before.has(id));
      if (accepted) throw new Error(`Slack accepted the image (job ${accepted}) instead of refusing it`);
      const r = this.#h.fake.responses.slice(responses)[0];
      if (r) return { text: rendered(String(r.body.text ?? '')), visibility: r.body.response_type === 'ephemeral' ? ('ephemeral' as const) : ('public' as const) };
      const e = this.#state.ephemerals.slice(ephemerals).find((x) => x.user === user.name);
      return e ? { text: rendered(e.text), visibility: 'ephemeral' as const } : undefined;
    });
  }

  /** Slack has no caption command: an image shared with a mention is described for the chat, which answers. */
  async caption(user: DriverUser, png: Uint8Array): Promise<CaptionShown> {
    const answer = await this.ask(user, '', { image: png });
    return { text: answer.text, jobId: answer.jobId };
  }

  /** Presses the Vary button on the picture's status message; the variation's own status message says what it is. */
  async vary(user: DriverUser, jobId: string, variation: 'subtle' | 'strong'): Promise<Variation> {
    const action = `hearth_vary_${variation}`;
    const status = await waitUntil('the Vary button', () => this.#state.messages.find((m) => !m.deleted && buttonsOf(m).some((b) => b.action === action && b.value === jobId)));
    const before = new Set(jobIds(this.app, user.userId, 'image'));
    const files = new Set(this.#state.files);
    await this.#h.press(action, jobId, { user: user.name, channel: status.channel, messageTs: status.ts, ...(status.thread ? { thread: status.thread } : {}) });
    const job = await newJob(this.app, user.userId, 'image', before, 'Vary');
    const ts = (job.origin as { status?: unknown } | null)?.status;
    if (typeof ts !== 'string') throw new Error(`the variation's origin names no status message: ${textOf(job.origin)}`);
    const m = await waitUntil(
      'the variation done',
      () => {
        const x = this.#state.find(status.channel, ts);
        return x && isFinal(this.app, job.id) && buttonsOf(x).some((b) => b.action === action) ? x : undefined;
      },
      { ms: 15_000, last: () => textOf(this.#state.find(status.channel, ts)) },
    );
    // The variation's picture: the file posted where the press was since it (the Vary answers in the picture's thread).
    const file = await waitUntil('the variation uploaded', () => this.#state.files.find((f) => !files.has(f) && f.channel === status.channel), { ms: 15_000 });
    return { jobId: job.id, text: shows(m), png: file.bytes };
  }

  /** `/imagine help`, as its user reads it. */
  async imagineChoices(): Promise<string> {
    const responses = this.#h.fake.responses.length;
    await this.#h.command('/imagine', 'help', { user: 'UHELP', channel: CHANNEL });
    const r = await waitUntil('the /imagine help', () => this.#h.fake.responses.slice(responses)[0]);
    return rendered(String(r.body.text ?? ''));
  }

  async varyButtons(jobId: string): Promise<string[]> {
    const status = await waitUntil('the finished picture with its Reroll button', () =>
      this.#state.messages.find((m) => !m.deleted && buttonsOf(m).some((b) => b.action === 'hearth_reroll' && b.value === jobId)),
    );
    return buttonsOf(status).flatMap((b) => (b.value === jobId ? (/^hearth_vary_(\w+)$/.exec(b.action)?.[1] ?? []) : []));
  }

  /** `/imagine help` lists `--image` and `--strength`. */
  async offersStartImage(): Promise<boolean> {
    const help = await this.imagineChoices();
    return help.includes('--image') && help.includes('--strength');
  }

  async cancel(user: DriverUser, jobId: string): Promise<Shown> {
    const hasCancel = (m: FakeMessage) => buttonsOf(m).some((b) => b.action === CANCEL && b.value === jobId);
    const status = await waitUntil('the Cancel button', () => this.#state.messages.find((m) => !m.deleted && hasCancel(m)));
    await this.#h.press(CANCEL, jobId, { user: user.name, channel: status.channel, messageTs: status.ts, ...(status.thread ? { thread: status.thread } : {}) });
    await waitUntil('the job cancelled', () => isFinal(this.app, jobId));
    const told = await waitUntil('the cancel shown', () => {
      const m = this.#state.find(status.channel, status.ts);
      return m && !m.deleted && !hasCancel(m) ? m : undefined;
    });
    return { text: shows(told), visibility: 'public' };
  }

  /** The slash commands the app's manifest installs. */
  async offeredCommands(): Promise<string[]> {
    return SLASH_COMMANDS.map((c) => c.command.slice(1));
  }

  async declaredStepsRange(): Promise<undefined> {
    // Slash commands take free text: Slack holds no option bounds.
    return undefined;
  }

  async exposed(): Promise<{ shown: string[]; recorded: string[] }> {
    const s = this.#state;
    const shown = [
      ...s.messages.flatMap((m) => [shows(m), ...m.history]),
      ...s.ephemerals.map((e) => e.text),
      ...s.files.map((f) => `${f.title}\n${f.comment ?? ''}`),
      ...this.#h.fake.responses.map((r) => textOf(r.body)),
    ];
    // The Web API calls' arguments, the acknowledgements sent back over the socket, and the messages as
    // stored. Credentials are left out: the Authorization header (not recorded) and the `token`
    // argument, Slack's other way to authenticate a call (Bolt's own auth.test sends the bot token as
    // both), which only ever goes to the Web API that checks it.
    const recorded = [
      ...s.calls.map(({ method, args: { token: _credential, ...args } }) => `${method} ${textOf(args)}`),
      ...this.#h.fake.deliveries.done.map((d) => textOf(d.response)),
      textOf(s.messages),
    ];
    return { shown, recorded };
  }

  reported(): string[] {
    return [...this.#earlierErrors, ...this.#h.errors];
  }

  async close(): Promise<void> {
    this.faults.clear();
    try {
      await this.#h.close({ fake: true });
      await this.#h.started.catch(() => {});
    } finally {
      this.app.store.close();
      rmSync(this.#h.dataDir, { recursive: true, force: true });
    }
  }

  get #state() {
    return this.#h.fake.state;
  }

  #topTs(): Set<string> {
    return new Set(this.#state.messages.filter((m) => m.channel === CHANNEL && !m.thread).map((m) => m.ts));
  }

  #threadTs(thread: string): Set<string> {
    return new Set(this.#state.messages.filter((m) => m.channel === CHANNEL && m.thread === thread).map((m) => m.ts));
  }

  /** The message a command posts to hang its thread from ("@user asked: …"). */
  #newRoot(user: DriverUser, before: Set<string>): Promise<FakeMessage> {
    return waitUntil('the message the thread hangs from', () => this.#state.topLevel(CHANNEL).find((m) => !before.has(m.ts) && m.text.includes(`<@${user.name}>`)));
  }

  async #imagine(user: DriverUser, opts: ImagineOptions): Promise<{ jobId: string; thread: string }> {
    const before = new Set(jobIds(this.app, user.userId, 'image'));
    const tops = this.#topTs();
    const mentioned = await this.#sendImagine(user, opts);
    const job = await newJob(this.app, user.userId, 'image', before, '/imagine');
    return { jobId: job.id, thread: mentioned ?? (await this.#newRoot(user, tops)).ts };
  }

  /**
   * `/imagine` with flags; with an image, a mention that starts with "imagine" and shares the file
   * (a slash command takes no file). Returns the mention's ts (its thread) when it was one.
   */
  async #sendImagine(user: DriverUser, opts: ImagineOptions): Promise<string | undefined> {
    if (!opts.image) {
      await this.#h.command('/imagine', imagineText(opts), { user: user.name, channel: CHANNEL });
      return undefined;
    }
    const m = mention(`imagine ${imagineText(opts)}`, { user: user.name, channel: CHANNEL, files: [this.#h.fake.addFile(opts.image, 'start.png')] });
    await this.#h.event(m.event);
    return m.ts;
  }

  /**
   * The finished answer of chat job `jobId` in its thread: once the job has ended and its messages
   * (those not in `seen`) have settled: streams stopped, no Cancel button left.
   */
  async #answer(jobId: string, { thread, seen }: AskHandle): Promise<Answer> {
    const parts = await waitUntil(
      'the finished answer',
      () => {
        if (!isFinal(this.app, jobId)) return undefined;
        const msgs = this.#state.thread(CHANNEL, thread).filter((m) => !seen.has(m.ts));
        const settled = msgs.length > 0 && msgs.every((m) => (m.stream ? m.stream.stopped : buttonsOf(m).length === 0));
        return settled ? msgs : undefined;
      },
      { ms: 15_000, last: () => textOf(this.#state.thread(CHANNEL, thread).map((m) => shows(m))) },
    );
    const text = parts.map(shows).join('');
    const views = answerViews(
      parts.map((m) => ({ history: m.history.map(rendered), final: shows(m) })),
      text,
    );
    return { text, views, jobId, conversation: { key: thread } };
  }
}
