/**
 * Drives the web console through its HTTP API and its per-session event stream, as console.js does:
 * each user is a browser session (cookie), every request carries the configured `web.token`.
 * What a user sees is what the page shows: its cards (web-page.ts keeps them as console.js does:
 * status line, the image's description, the text), and a refused command's message on its card.
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { HearthApp } from '../../../src/app/hearth-app.js';
import { createWebAdapter, type WebAdapter } from '../../../src/bots/web/index.js';
import { ConsoleClient, isMessage, type EventStream } from '../../browser/support/http-client.js';
import { simApp } from '../../helpers/sim-app.js';
import { SimFaults } from '../../helpers/sim-faults.js';
import type { Answer, AskOptions, Capabilities, CaptionShown, ConformanceSetup, Conversation, DriverUser, ImagineOptions, PendingAsk, Picture, PlatformDriver, Shown, Variation } from '../driver.js';
import { isFinal, textOf, waitUntil } from '../support.js';
import { cardWords, Page, type PageCard } from './web-page.js';

interface Session {
  client: ConsoleClient;
  events: EventStream;
  /** What the session's page shows. */
  page: Page;
}

type Reply = { status: number; json: Record<string, unknown> };

/** The handle of a question: the card it made on the asker's page. */
interface AskHandle {
  session: Session;
  ref: string;
}

/** The people the suite may sign in, each with a token of their own. */
const PEOPLE: readonly string[] = Array.from({ length: 32 }, (_, i) => `p${i + 1}`);

function personToken(consoleToken: string, name: string): string {
  return `${consoleToken}-${name}`;
}

export class WebDriver implements PlatformDriver {
  readonly name = 'web';
  readonly capabilities: Capabilities = { ephemeral: false, caption: 'command', conversations: 'per-user', optionBounds: true, options: 'free' };
  readonly secrets: readonly string[];
  readonly faults: SimFaults;
  readonly #setup: ConformanceSetup;
  readonly #token: string;
  readonly #dataDir: string;
  #app: HearthApp;
  #web: WebAdapter;
  #started: Promise<void>;
  readonly #sessions = new Map<string, Session>();
  /** Every JSON answer the console gave, as text. */
  readonly #replies: string[] = [];
  readonly #errors: string[] = [];
  #refs = 0;

  static async start(setup: ConformanceSetup): Promise<WebDriver> {
    const token = `conformance-web-token-${randomUUID()}`;
    const faults = new SimFaults();
    const made = await WebDriver.#hearth(setup, token, faults, { port: 0 });
    return new WebDriver(setup, made, token, faults);
  }

  /** A hearth with the console on `port`; returns once the console listens (the models may still be starting). */
  static async #hearth(setup: ConformanceSetup, token: string, faults: SimFaults, opts: { port: number; dataDir?: string; describeGate?: Promise<void> }) {
    let web: WebAdapter | undefined;
    const { app, dataDir, describing } = await simApp({
      // Each person of the suite signs in with a token of their own (web.users): without one, everyone
      // at the console is one user for limits and fair share.
      config: { web: { port: opts.port, token, users: PEOPLE.map((name) => ({ name, token: personToken(token, name) })) }, limits: { maxQueuedPerUser: setup.maxQueuedPerUser } },
      adapters: [(ctx) => (web = createWebAdapter(ctx))],
      chatStepMs: setup.chatStepMs,
      imageStepMs: setup.imageStepMs,
      faults,
      ...(setup.image ? { realImage: setup.image } : {}),
      ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
      ...(opts.describeGate ? { describeGate: opts.describeGate } : {}),
    });
    const started = app.start();
    await Promise.race([started, describing]);
    return { app, web: web!, dataDir, started };
  }

  private constructor(setup: ConformanceSetup, made: { app: HearthApp; web: WebAdapter; dataDir: string; started: Promise<void> }, token: string, faults: SimFaults) {
    this.#setup = setup;
    this.#app = made.app;
    this.#web = made.web;
    this.#started = made.started;
    this.#token = token;
    this.#dataDir = made.dataDir;
    this.faults = faults;
    this.secrets = [token, ...PEOPLE.map((p) => personToken(token, p))];
    this.#watchErrors(made.app);
  }

  get app(): HearthApp {
    return this.#app;
  }

  #watchErrors(app: HearthApp): void {
    const report = app.reportError.bind(app);
    app.reportError = (e: unknown, where: string) => {
      this.#errors.push(`${where}: ${e instanceof Error ? e.message : String(e)}`);
      report(e, where);
    };
  }

  async user(name: string): Promise<DriverUser> {
    const person = PEOPLE[this.#sessions.size];
    if (!person) throw new Error(`the web driver signs in at most ${PEOPLE.length} people`);
    const client = await new ConsoleClient(this.#web.url(), { authorization: `Bearer ${personToken(this.#token, person)}` }).visit();
    if (!client.cookies.get('hearth_session')) throw new Error('the console gave the browser no session cookie');
    const events = await client.events();
    const hello = (await events.next((m) => isMessage(m) && (m as { type: string }).type === 'hello')) as { userId: string };
    const page = new Page();
    page.follow(events);
    this.#sessions.set(name, { client, events, page });
    return { name, userId: hello.userId };
  }

  async ask(user: DriverUser, prompt: string, opts: AskOptions = {}): Promise<Answer> {
    return this.answer(await this.startAsk(user, prompt, opts));
  }

  async startAsk(user: DriverUser, prompt: string, opts: AskOptions = {}): Promise<PendingAsk> {
    // A browser session is one conversation: a follow-up can only be asked in the user's own.
    if (opts.conversation && opts.conversation.key !== user.userId) throw new Error(`the web console has one conversation per session; ${opts.conversation.key} is not ${user.name}'s`);
    const s = this.#session(user);
    const ref = this.#ref();
    s.page.sent(ref);
    let uploadId: unknown;
    if (opts.image) uploadId = await this.#upload(s, opts.image);
    const jobId = this.#jobId(await this.#post(s, '/api/ask', { prompt, ref, ...(uploadId ? { uploadId } : {}) }), '/api/ask', s, ref);
    const handle: AskHandle = { session: s, ref };
    return { jobId, conversation: { key: user.userId }, handle };
  }

  async answer(asked: PendingAsk): Promise<Answer> {
    const { session: s, ref } = asked.handle as AskHandle;
    const card = await waitUntil(
      'the answer on its card',
      () => {
        const c = s.page.card(ref);
        const st = c?.view?.state;
        return c && c.view?.jobId === asked.jobId && (st === 'done' || st === 'failed' || st === 'cancelled') && isFinal(this.app, asked.jobId) ? c : undefined;
      },
      { ms: 15_000, last: () => textOf(s.page.card(ref)) },
    );
    const view = card.view!;
    // The page shows the status line above the text; a finished answer has none.
    const text = view.state === 'done' ? view.text : `${view.text}${card.status}`;
    return { text, views: [...card.texts], jobId: asked.jobId, conversation: asked.conversation };
  }

  async shows(asked: PendingAsk): Promise<string[]> {
    const { session: s, ref } = asked.handle as AskHandle;
    return s.page.shows(ref);
  }

  async restart(opts: { describeGate?: Promise<void> } = {}): Promise<void> {
    const port = new URL(this.#web.url()).port;
    for (const s of this.#sessions.values()) s.events.close();
    await this.#app.close();
    await this.#started.catch(() => {});
    this.#app.store.close();
    const made = await WebDriver.#hearth(this.#setup, this.#token, this.faults, { port: Number(port), dataDir: this.#dataDir, ...opts });
    this.#app = made.app;
    this.#web = made.web;
    this.#started = made.started;
    this.#watchErrors(made.app);
    // Each page reconnects (EventSource does it by itself) and is greeted with its cards.
    for (const s of this.#sessions.values()) {
      s.events = await s.client.events();
      await s.events.next((m) => isMessage(m) && (m as { type: string }).type === 'hello');
      s.page.follow(s.events);
    }
  }

  async forget(user: DriverUser, conversation: Conversation): Promise<Shown> {
    if (conversation.key !== user.userId) throw new Error(`${conversation.key} is not ${user.name}'s conversation`);
    const r = await this.#post(this.#session(user), '/api/forget', {});
    // The notice console.js forget() shows under the conversation.
    const error = r.json.error as { message?: unknown } | undefined;
    if (r.status !== 200) return { text: typeof error?.message === 'string' ? error.message : JSON.stringify(r.json), visibility: 'requester' };
    const turns = typeof r.json.turns === 'number' ? r.json.turns : 0;
    return { text: turns > 0 ? `Forgot this conversation (${turns} messages).` : 'There was nothing to forget.', visibility: 'requester' };
  }

  async imagine(user: DriverUser, opts: ImagineOptions): Promise<Picture> {
    const s = this.#session(user);
    const { jobId, ref } = await this.#startImagine(s, opts);
    const card = await this.#ended(s, ref, jobId);
    // The console shows "seed N" under the picture (the card's status line).
    const seed = /\bseed (\d+)/.exec(card.status)?.[1];
    return { png: await this.#picture(s, card), text: cardWords(card), seed: seed === undefined ? undefined : Number(seed), jobId };
  }

  /** The picture a card shows, fetched as the page's <img> does. */
  async #picture(s: Session, card: PageCard): Promise<Uint8Array> {
    const view = card.view!;
    if (!view.image) throw new Error(`the image job ended ${view.state} without an image: ${cardWords(card)}`);
    const res = await s.client.fetch(view.image.url);
    if (res.status !== 200) throw new Error(`GET ${view.image.url} answered ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  }

  async startImagine(user: DriverUser, opts: ImagineOptions): Promise<{ jobId: string }> {
    return { jobId: (await this.#startImagine(this.#session(user), opts)).jobId };
  }

  async refusedImagine(user: DriverUser, opts: ImagineOptions): Promise<Shown> {
    const s = this.#session(user);
    const ref = this.#ref();
    s.page.sent(ref);
    const r = await this.#post(s, '/api/imagine', { ...(await this.#imagineBody(s, opts)), ref });
    if (r.status === 200) throw new Error(`the console accepted the image instead of refusing it: ${JSON.stringify(r.json)}`);
    const error = r.json.error as { message?: unknown } | undefined;
    s.page.refused(ref, typeof error?.message === 'string' ? error.message : JSON.stringify(r.json));
    const text = cardWords(s.page.card(ref)!);
    // Who sees it: the asker's page has it; it is the requester's alone unless another page shows it too.
    const elsewhere = [...this.#sessions.values()].some((o) => o !== s && o.page.everything().some((w) => w.includes(text)));
    return { text, visibility: elsewhere ? 'public' : 'requester' };
  }

  async caption(user: DriverUser, png: Uint8Array): Promise<CaptionShown> {
    const s = this.#session(user);
    const ref = this.#ref();
    s.page.sent(ref);
    const uploadId = await this.#upload(s, png);
    const jobId = this.#jobId(await this.#post(s, '/api/caption', { uploadId, ref }), '/api/caption', s, ref);
    const card = await this.#ended(s, ref, jobId);
    return { text: cardWords(card), jobId };
  }

  /** The card's Vary button (console.js vary): POST /api/vary with the preset, in a new card. */
  async vary(user: DriverUser, jobId: string, variation: 'subtle' | 'strong'): Promise<Variation> {
    const s = this.#session(user);
    const ref = this.#ref();
    s.page.sent(ref);
    const id = this.#jobId(await this.#post(s, '/api/vary', { ref, jobId, variation }), '/api/vary', s, ref);
    const card = await this.#ended(s, ref, id);
    return { jobId: id, text: cardWords(card), png: await this.#picture(s, card) };
  }

  /** What the image form offers, from the data console.js builds it with (/api/info): sampler names, bounds, defaults. */
  async imagineChoices(): Promise<string> {
    const s = this.#anySession();
    const info = (await (await s.client.fetch('/api/info')).json()) as {
      limits: { image: { samplers: Array<{ label: string }>; minSize: number; maxSize: number; maxSteps: number; defaults: { width: number; height: number; steps: number } } };
    };
    const img = info.limits.image;
    return `samplers: ${img.samplers.map((x) => x.label).join(', ')}; size ${img.minSize}–${img.maxSize} (default ${img.defaults.width}x${img.defaults.height}); steps 1–${img.maxSteps} (default ${img.defaults.steps})`;
  }

  /** console.js gives every finished picture's card one Vary button per variation /api/info lists. */
  async varyButtons(jobId: string): Promise<string[]> {
    await waitUntil('the picture done', () => this.app.engine.getJob(jobId)?.state === 'done');
    const info = (await (await this.#anySession().client.fetch('/api/info')).json()) as { limits: { image: { variations: Array<{ id: string }> } } };
    return info.limits.image.variations.map((v) => v.id);
  }

  /** The form offers the strength of an image to start from unless /api/info says the model cannot (console.js applyInfo). */
  async offersStartImage(): Promise<boolean> {
    const info = (await (await this.#anySession().client.fetch('/api/info')).json()) as { limits: { image: { fromImage?: unknown } } };
    return info.limits.image.fromImage !== false;
  }

  async cancel(user: DriverUser, jobId: string): Promise<Shown> {
    // The card's Cancel button posts the job id (console.js cancel(v.jobId)).
    const s = this.#session(user);
    const card = await waitUntil('the card of the job, with its Cancel button', () => {
      s.page.sync();
      return [...s.page.cards.values()].find((c) => c.view?.jobId === jobId && (c.view.state === 'queued' || c.view.state === 'running'));
    });
    const r = await this.#post(s, '/api/cancel', { jobId });
    if (r.status !== 200) throw new Error(`/api/cancel answered ${r.status}: ${JSON.stringify(r.json)}`);
    return { text: cardWords(await this.#ended(s, card.ref, jobId)), visibility: 'requester' };
  }

  /** The commands the composer takes, as its help line (console.js HELP) lists them to the user. */
  async offeredCommands(): Promise<string[]> {
    const s = this.#anySession();
    const script = await (await s.client.fetch('/static/console.js')).text();
    const help = /Commands: ([^'"`]*)/.exec(script)?.[1];
    if (!help) throw new Error('console.js has no "Commands: …" help line to read the commands from');
    return [...help.matchAll(/\/([a-z][\w-]*)/g)].map((m) => m[1]!);
  }

  async declaredStepsRange(): Promise<{ min?: number; max: number } | undefined> {
    const s = this.#anySession();
    const info = (await (await s.client.fetch('/api/info')).json()) as { limits?: { image?: { maxSteps?: unknown } } };
    const max = info.limits?.image?.maxSteps;
    return typeof max === 'number' ? { max } : undefined;
  }

  async exposed(): Promise<{ shown: string[]; recorded: string[] }> {
    const shown: string[] = [...this.#replies];
    for (const s of this.#sessions.values()) {
      shown.push(...s.page.everything());
      for (const m of s.events.messages) shown.push(textOf(m));
    }
    const recorded: string[] = [];
    const record = async (res: Response, what: string): Promise<void> => {
      // Response headers too: a cookie or a redirect must not carry the token either.
      const headers: string[] = [];
      res.headers.forEach((v, k) => headers.push(`${k}: ${v}`));
      recorded.push(`${what} ${res.status} ${headers.join('; ')} ${await res.text()}`);
    };
    // What any page load gets: the pages, their scripts, the info, queue and dashboard views.
    const s = this.#anySession();
    for (const path of ['/', '/dashboard', '/static/console.js', '/static/dashboard.js', '/static/common.js', '/api/info', '/api/queue', '/api/status']) {
      await record(await s.client.fetch(path), path);
    }
    // A browser signing in with the link that carries the token (the request itself is the user's own).
    await record(await new ConsoleClient(this.#web.url()).fetch(`/?token=${encodeURIComponent(this.#token)}`), 'sign-in link');
    return { shown, recorded };
  }

  reported(): string[] {
    return [...this.#errors];
  }

  async close(): Promise<void> {
    for (const s of this.#sessions.values()) s.events.close();
    this.faults.clear();
    try {
      await this.app.close();
      await this.#started.catch(() => {});
    } finally {
      this.app.store.close();
      rmSync(this.#dataDir, { recursive: true, force: true });
    }
  }

  #session(user: DriverUser): Session {
    const s = this.#sessions.get(user.name);
    if (!s) throw new Error(`no browser session for ${user.name}`);
    return s;
  }

  #anySession(): Session {
    const s = [...this.#sessions.values()][0];
    if (!s) throw new Error('no browser session yet');
    return s;
  }

  #ref(): string {
    return `c${++this.#refs}`;
  }

  async #post(s: Session, path: string, body: unknown): Promise<Reply> {
    const r = await s.client.post(path, body);
    this.#replies.push(JSON.stringify(r.json));
    return r;
  }

  async #upload(s: Session, png: Uint8Array): Promise<string> {
    const res = await s.client.fetch('/api/uploads', { method: 'POST', headers: { 'content-type': 'image/png' }, body: Buffer.from(png) });
    const up = (await res.json()) as Record<string, unknown>;
    this.#replies.push(JSON.stringify(up));
    if (res.status !== 201 || typeof up.uploadId !== 'string') throw new Error(`the upload was refused (${res.status}): ${JSON.stringify(up)}`);
    return up.uploadId;
  }

  async #startImagine(s: Session, opts: ImagineOptions): Promise<{ jobId: string; ref: string }> {
    const ref = this.#ref();
    s.page.sent(ref);
    return { jobId: this.#jobId(await this.#post(s, '/api/imagine', { ...(await this.#imagineBody(s, opts)), ref }), '/api/imagine', s, ref), ref };
  }

  /** The form's JSON: an image to start from is uploaded first (as console.js does) and named by its upload id. */
  async #imagineBody(s: Session, opts: ImagineOptions): Promise<Record<string, unknown>> {
    const { image, ...rest } = opts;
    return image ? { ...rest, uploadId: await this.#upload(s, image) } : rest;
  }

  /** The card once it shows the end of `jobId`. */
  #ended(s: Session, ref: string, jobId: string): Promise<PageCard> {
    return waitUntil(
      'the card showing the end of its job',
      () => {
        const c = s.page.card(ref);
        const st = c?.view?.state;
        return c && c.view?.jobId === jobId && (st === 'done' || st === 'failed' || st === 'cancelled') ? c : undefined;
      },
      { ms: 15_000, last: () => textOf(s.page.card(ref)) },
    );
  }

  /** The job id of an accepted command; a refused one fails its card (console.js failCard) and throws. */
  #jobId(r: Reply, what: string, s: Session, ref: string): string {
    if (r.status !== 200 || typeof r.json.jobId !== 'string') {
      s.page.refused(ref, JSON.stringify(r.json));
      throw new Error(`${what} answered ${r.status}: ${JSON.stringify(r.json)}`);
    }
    const card = s.page.card(ref);
    if (card && !card.view) card.status = 'Queued…';
    return r.json.jobId;
  }
}
