/**
 * Drives the web console through its HTTP API and its per-session event stream, as console.js does:
 * each user is a browser session (cookie), every request carries the configured `web.token`.
 * What a user "sees" is what the API gives the page: the JSON answers and the job views of the stream.
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { HearthApp } from '../../../src/app/hearth-app.js';
import type { JobView } from '../../../src/bots/web/job-tracker.js';
import { createWebAdapter, type WebAdapter } from '../../../src/bots/web/index.js';
import { ConsoleClient, isMessage, type EventStream } from '../../browser/support/http-client.js';
import { simApp } from '../../helpers/sim-app.js';
import type { Answer, Capabilities, CaptionShown, ConformanceSetup, Conversation, DriverUser, ImagineOptions, Picture, PlatformDriver, Shown } from '../driver.js';
import { textOf } from '../support.js';

interface Session {
  client: ConsoleClient;
  events: EventStream;
}

type Reply = { status: number; json: Record<string, unknown> };

export class WebDriver implements PlatformDriver {
  readonly name = 'web';
  readonly capabilities: Capabilities = { ephemeral: false, caption: 'command', conversations: 'per-user', optionBounds: true };
  readonly app: HearthApp;
  readonly secrets: readonly string[];
  readonly #web: WebAdapter;
  readonly #token: string;
  readonly #dataDir: string;
  readonly #sessions = new Map<string, Session>();
  /** Every JSON answer the console gave, as text. */
  readonly #replies: string[] = [];
  readonly #errors: string[] = [];
  #refs = 0;

  static async start(setup: ConformanceSetup): Promise<WebDriver> {
    const token = `conformance-web-token-${randomUUID()}`;
    let web: WebAdapter | undefined;
    const { app, dataDir } = await simApp({
      config: { web: { port: 0, token }, limits: { maxQueuedPerUser: setup.maxQueuedPerUser } },
      adapters: [(ctx) => (web = createWebAdapter(ctx))],
      chatStepMs: setup.chatStepMs,
      imageStepMs: setup.imageStepMs,
    });
    const driver = new WebDriver(app, web!, token, dataDir);
    await app.start();
    return driver;
  }

  private constructor(app: HearthApp, web: WebAdapter, token: string, dataDir: string) {
    this.app = app;
    this.#web = web;
    this.#token = token;
    this.#dataDir = dataDir;
    this.secrets = [token];
    const report = app.reportError.bind(app);
    app.reportError = (e: unknown, where: string) => {
      this.#errors.push(`${where}: ${e instanceof Error ? e.message : String(e)}`);
      report(e, where);
    };
  }

  async user(name: string): Promise<DriverUser> {
    const client = await new ConsoleClient(this.#web.url(), { authorization: `Bearer ${this.#token}` }).visit();
    const session = client.cookies.get('hearth_session');
    if (!session) throw new Error('the console gave the browser no session cookie');
    const events = await client.events();
    await events.next((m) => isMessage(m) && (m as { type: string }).type === 'hello');
    this.#sessions.set(name, { client, events });
    return { name, userId: `web:${session}` };
  }

  async ask(user: DriverUser, prompt: string, opts: { conversation?: Conversation } = {}): Promise<Answer> {
    // A browser session is one conversation: a follow-up can only be asked in the user's own.
    if (opts.conversation && opts.conversation.key !== user.userId) throw new Error(`the web console has one conversation per session; ${opts.conversation.key} is not ${user.name}'s`);
    const s = this.#session(user);
    const jobId = this.#jobId(await this.#post(s, '/api/ask', { prompt, ref: this.#ref() }), '/api/ask');
    const view = await s.events.job(jobId);
    let sofar = '';
    const views: string[] = [];
    for (const m of s.events.messages) {
      if (isMessage(m) && m.type === 'token' && m.jobId === jobId) views.push((sofar += m.text));
    }
    return { text: view.state === 'done' ? view.text : `${view.text}${view.status}`, views, jobId, conversation: { key: user.userId } };
  }

  async forget(user: DriverUser, conversation: Conversation): Promise<Shown> {
    if (conversation.key !== user.userId) throw new Error(`${conversation.key} is not ${user.name}'s conversation`);
    const r = await this.#post(this.#session(user), '/api/forget', {});
    return { text: JSON.stringify(r.json), visibility: 'requester' };
  }

  async imagine(user: DriverUser, opts: ImagineOptions): Promise<Picture> {
    const s = this.#session(user);
    const jobId = this.#jobId(await this.#post(s, '/api/imagine', { ...opts, ref: this.#ref() }), '/api/imagine');
    const view = await s.events.job(jobId);
    if (!view.image) throw new Error(`the image job ended ${view.state} without an image: ${JSON.stringify(view.error)}`);
    const res = await s.client.fetch(view.image.url);
    if (res.status !== 200) throw new Error(`GET ${view.image.url} answered ${res.status}`);
    // The console shows "seed N" under the picture from the view's seed (console.js statusText).
    return { png: new Uint8Array(await res.arrayBuffer()), text: JSON.stringify(view), seed: view.seed, jobId };
  }

  async startImagine(user: DriverUser, opts: ImagineOptions): Promise<{ jobId: string }> {
    return { jobId: this.#jobId(await this.#post(this.#session(user), '/api/imagine', { ...opts, ref: this.#ref() }), '/api/imagine') };
  }

  async refusedImagine(user: DriverUser, opts: ImagineOptions): Promise<Shown> {
    const r = await this.#post(this.#session(user), '/api/imagine', { ...opts, ref: this.#ref() });
    if (r.status === 200) throw new Error(`the console accepted the image instead of refusing it: ${JSON.stringify(r.json)}`);
    const error = r.json.error as { message?: unknown } | undefined;
    return { text: typeof error?.message === 'string' ? error.message : JSON.stringify(r.json), visibility: 'requester' };
  }

  async caption(user: DriverUser, png: Uint8Array): Promise<CaptionShown> {
    const s = this.#session(user);
    const res = await s.client.fetch('/api/uploads', { method: 'POST', headers: { 'content-type': 'image/png' }, body: Buffer.from(png) });
    const up = (await res.json()) as Record<string, unknown>;
    this.#replies.push(JSON.stringify(up));
    if (res.status !== 201) throw new Error(`the upload was refused (${res.status}): ${JSON.stringify(up)}`);
    const jobId = this.#jobId(await this.#post(s, '/api/caption', { uploadId: up.uploadId, ref: this.#ref() }), '/api/caption');
    const view = await s.events.job(jobId);
    return { text: view.state === 'done' ? view.text : view.status, jobId };
  }

  async cancel(user: DriverUser, jobId: string): Promise<Shown> {
    // The card's Cancel button posts the job id (console.js cancel(v.jobId)).
    const s = this.#session(user);
    const r = await this.#post(s, '/api/cancel', { jobId });
    if (r.status !== 200) throw new Error(`/api/cancel answered ${r.status}: ${JSON.stringify(r.json)}`);
    const view: JobView = await s.events.job(jobId);
    return { text: view.status, visibility: 'requester' };
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
    for (const s of this.#sessions.values()) for (const m of s.events.messages) shown.push(textOf(m));
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
    try {
      await this.app.close();
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

  #jobId(r: Reply, what: string): string {
    if (r.status !== 200 || typeof r.json.jobId !== 'string') throw new Error(`${what} answered ${r.status}: ${JSON.stringify(r.json)}`);
    return r.json.jobId;
  }
}
