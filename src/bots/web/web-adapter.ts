import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AdapterContext, PlatformAdapter } from '../adapter.js';
import { ConsoleApi, type Caller } from './api.js';
import { Gatekeeper } from './auth.js';
import { DASHBOARD, DashboardFeed } from './dashboard-feed.js';
import { FirstRun, type FirstRunOptions } from './first-run.js';
import { closeUnreadBodies, SECURITY_HEADERS, sendError, sendJson, sendText } from './http.js';
import { ConsoleKeys, loadConsoleSecret } from './session.js';
import { sendMetrics } from './metrics-route.js';
import { JobTracker } from './job-tracker.js';
import { SseHub } from './sse.js';
import { loadStaticFiles, type StaticFile } from './static-files.js';
import { UploadStore } from './uploads.js';

/** The web console: a {@link PlatformAdapter} that also says where it listens. */
export interface WebAdapter extends PlatformAdapter {
  /** The full address it listens on, e.g. `http://127.0.0.1:8080/` (after `start`). */
  url(): string;
}

const PAGES: Record<string, string> = { '/': 'index.html', '/dashboard': 'dashboard.html' };

/**
 * The local console and dashboard over node:http: pages from `public/`, a JSON API over the same
 * commands as Discord and Slack, and server-sent event streams (one per browser session for its
 * jobs, one for the dashboard). Every request passes the {@link Gatekeeper} first.
 */
export class WebConsole implements WebAdapter {
  readonly platform = 'web' as const;
  readonly #ctx: AdapterContext;
  readonly #hub = new SseHub<string>();
  readonly #tracker: JobTracker;
  readonly #feed: DashboardFeed;
  readonly #uploads: UploadStore;
  readonly #api: ConsoleApi;
  readonly #firstRun: FirstRun;
  #gate: Gatekeeper | undefined;
  readonly #stop = new AbortController();
  #server: Server | undefined;
  #files = new Map<string, StaticFile>();
  #off: (() => void) | undefined;
  #closing: Promise<void> | undefined;
  #port = 0;

  constructor(ctx: AdapterContext, opts: { firstRun?: FirstRunOptions } = {}) {
    this.#ctx = ctx;
    this.#firstRun = new FirstRun(ctx.config, opts.firstRun);
    this.#tracker = new JobTracker(ctx.jobs, {
      send: (session, message) => this.#hub.send(session, message),
      report: (e, where) => ctx.reportError(e, `web: ${where}`),
    });
    this.#feed = new DashboardFeed({
      commands: ctx.commands,
      hub: this.#hub,
      clock: ctx.clock,
      onError: (e) => ctx.reportError(e, 'web dashboard feed'),
    });
    this.#uploads = new UploadStore(ctx.clock);
    this.#api = new ConsoleApi({
      commands: ctx.commands,
      jobs: ctx.jobs,
      config: ctx.config,
      tracker: this.#tracker,
      uploads: this.#uploads,
      signal: this.#stop.signal,
    });
  }

  url(): string {
    if (!this.#server) throw new Error('the web console is not started');
    const host = this.#ctx.config.web.host;
    return `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${this.#port}/`;
  }

  async start(opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#server) return;
    opts.signal?.throwIfAborted();
    const web = this.#ctx.config.web;
    const keys = new ConsoleKeys(await loadConsoleSecret(this.#ctx.config.dataDir));
    this.#gate = new Gatekeeper({ token: web.token, users: web.users, host: web.host, port: () => this.#port, keys });
    this.#files = await loadStaticFiles();
    this.#tracker.start();
    this.#off = this.#ctx.jobs.subscribe((e) => {
      const t = e.event.type;
      this.#feed.changed(t === 'result' || t === 'failed' || t === 'cancelled');
    });
    const offGpu = this.#ctx.monitoring?.gpu.onUpdate(() => this.#feed.changed());
    const offJobs = this.#off;
    this.#off = () => {
      offJobs();
      offGpu?.();
    };
    const server = createServer((req, res) => void this.#handle(req, res));
    this.#server = server;
    const { host, port } = this.#ctx.config.web;
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(opts.signal?.reason ?? new Error('aborted'));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      server.once('error', (e) => {
        opts.signal?.removeEventListener('abort', onAbort);
        reject(e);
      });
      server.listen({ host, port }, () => {
        opts.signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    }).catch(async (e: unknown) => {
      await this.close();
      throw listenError(e, host, port);
    });
    this.#port = (server.address() as AddressInfo).port;
    server.on('error', (e) => this.#ctx.reportError(e, 'web console server'));
    this.#ctx.log.info(`web console listening on ${this.url()}${this.#gate.requiresToken ? ' (web.token required)' : ''}`);
    if (web.users.length > 0) this.#ctx.log.info(`web console: ${web.users.length} people may sign in with their own token (web.users)`);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#off?.();
      this.#tracker.stop();
      this.#stop.abort();
      this.#feed.dispose();
      this.#hub.closeAll();
      this.#uploads.clear();
      await this.#firstRun.close();
      const server = this.#server;
      if (!server) return;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    })();
    return this.#closing;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let path = '/';
    // A body that is refused or not read is not read to its end either: the answer closes the connection.
    closeUnreadBodies(req, res);
    try {
      const url = new URL(req.url ?? '/', 'http://console.invalid');
      path = url.pathname;
      const isApi = path.startsWith('/api/');
      if (!this.#gate) throw new Error('the web console is not started');
      const gate = this.#gate.check(req, url, { session: isApi || PAGES[path] !== undefined });
      if (gate.kind === 'refuse') {
        const headers: Record<string, string> = gate.status === 401 ? { 'WWW-Authenticate': 'Bearer realm="hearth"' } : {};
        if (gate.retryAfter !== undefined) headers['Retry-After'] = String(gate.retryAfter);
        if (gate.setCookies?.length) res.setHeader('Set-Cookie', gate.setCookies);
        return sendText(res, gate.status, gate.reason, headers);
      }
      if (gate.setCookies.length > 0) res.setHeader('Set-Cookie', gate.setCookies);
      if (gate.kind === 'redirect') {
        res.writeHead(303, { ...SECURITY_HEADERS, Location: gate.location, 'Cache-Control': 'no-store' });
        return void res.end();
      }
      const session = gate.session;
      if (isApi && session !== undefined) return await this.#route(req, res, url, { session, user: gate.user });
      if (path === '/metrics' && this.#ctx.monitoring) return await sendMetrics(req, res, this.#ctx.monitoring.metrics);
      const file = req.method === 'GET' || req.method === 'HEAD' ? this.#fileFor(path) : undefined;
      if (!file) {
        return sendText(res, req.method === 'GET' || req.method === 'HEAD' ? 404 : 405, 'Not found.');
      }
      res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': file.type, 'Content-Length': String(file.body.byteLength), 'Cache-Control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : file.body);
    } catch (e) {
      // Only the path is named: a query string may carry the token.
      this.#ctx.reportError(e, `web console ${req.method ?? 'GET'} ${path}`);
      if (res.headersSent) return void res.destroy();
      sendJson(res, 500, { error: { code: 'RUNNER_FAILED', message: "Sorry, the console could not answer this request. The details are in hearth's log.", facts: {} } });
    }
  }

  async #route(req: IncomingMessage, res: ServerResponse, url: URL, caller: Caller): Promise<void> {
    const path = url.pathname;
    if (req.method === 'GET' && path === '/api/events') return this.#openSession(req, res, caller);
    if (req.method === 'GET' && path === '/api/dashboard/events') return this.#openDashboard(req, res, caller);
    if (req.method === 'GET' && path === '/api/status') return sendJson(res, 200, this.#feed.view());
    // The first run: the recommended models (sizes, then a background download this page polls).
    if (req.method === 'GET' && path === '/api/setup') return sendJson(res, 200, this.#firstRun.status());
    if (req.method === 'POST' && path === '/api/setup/plan') return sendJson(res, 200, this.#firstRun.plan());
    if (req.method === 'POST' && path === '/api/setup/pull') return sendJson(res, 202, this.#firstRun.pull());
    if (await this.#api.handle(req, res, url, caller)) return;
    sendError(res, { code: 'NOT_FOUND', message: `there is no ${req.method ?? 'GET'} ${path} in the console's API`, facts: { given: path } });
  }

  #fileFor(path: string): StaticFile | undefined {
    const page = PAGES[path];
    if (page) return this.#files.get(page);
    const m = /^\/static\/([A-Za-z0-9_-]+\.[a-z]+)$/.exec(path);
    return m ? this.#files.get(m[1]!) : undefined;
  }

  #openSession(req: IncomingMessage, res: ServerResponse, caller: Caller): void {
    if (!this.#hub.open(caller.session, req, res, holderOf(req, caller))) return;
    this.#hub.sendTo(res, { type: 'hello', userId: caller.user.userId, jobs: this.#tracker.jobsOf(caller.session) });
  }

  #openDashboard(req: IncomingMessage, res: ServerResponse, caller: Caller): void {
    if (!this.#hub.open(DASHBOARD, req, res, holderOf(req, caller))) return;
    this.#hub.sendTo(res, { type: 'status', view: this.#feed.view() });
  }
}

/** Who holds an event stream, for the per-session and per-address caps. */
function holderOf(req: IncomingMessage, caller: Caller): { session: string; address: string } {
  return { session: caller.session, address: req.socket.remoteAddress ?? 'unknown' };
}

/** Why the console could not listen, in words that name the setting to change. */
function listenError(e: unknown, host: string, port: number): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const where = `${host}:${port}`;
  const say: Record<string, string> = {
    EADDRINUSE: `the web console cannot listen on ${where}: the port is already in use. Set web.port to another port (0 picks a free one).`,
    EACCES: `the web console may not listen on ${where}: ports below 1024 need extra rights. Set web.port to 1024 or above.`,
    EADDRNOTAVAIL: `the web console cannot listen on ${where}: this machine has no such address. Check web.host (127.0.0.1 keeps it on this machine).`,
    ENOTFOUND: `the web console cannot listen on ${where}: the host name is unknown. Check web.host.`,
  };
  return code && say[code] ? new Error(say[code], { cause: e }) : e;
}
