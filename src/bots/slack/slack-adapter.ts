import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { App, HTTPReceiver, LogLevel, SocketModeReceiver, type AppOptions } from '@slack/bolt';
import { HearthError } from '../../engine/types.js';
import { SlackKnowledge } from '../../knowledge/slack-knowledge.js';
import type { AdapterContext, PlatformAdapter } from '../adapter.js';
import { SlackAccess } from './access.js';
import { registerActions } from './actions.js';
import { boltLogger } from './bolt-logger.js';
import { registerEvents } from './events.js';
import type { HandlerContext } from './handler-context.js';
import { SlackRenderer, StreamingSupport } from './renderer.js';
import { SeenEvents } from './seen-events.js';
import { SlackApi, slackErrorCode } from './slack-api.js';
import { registerSlashCommands } from './slash-commands.js';

export interface SlackAdapterOptions {
  /**
   * HTTP mode: the address to listen on. Default: every interface, since Slack must reach it (through
   * a tunnel or reverse proxy for a home machine). Tests pass 127.0.0.1.
   */
  host?: string;
  /** Extra Web API client options, merged over `slackApiUrl: slack.apiUrl` (tests: `retryConfig`). */
  clientOptions?: AppOptions['clientOptions'];
  /** Try chat.startStream for answers (default true; where a workspace lacks it, answers are edited in). */
  streaming?: boolean;
  /** Where seen event ids are kept across restarts (default `dataDir/slack-seen-events.log`; false: memory only). */
  seenEventsFile?: string | false;
}

/** How long a Socket Mode disconnect may take before close() stops waiting for it. */
const DISCONNECT_WAIT_MS = 5000;

/**
 * The Slack app: Socket Mode by default (outbound only, so a home machine needs no public URL), or
 * HTTP mode on `slack.port` at `/slack/events` with signed requests. Every Web API call, Socket Mode's
 * `apps.connections.open` included, goes to `slack.apiUrl`.
 */
export class SlackAdapter implements PlatformAdapter {
  readonly platform = 'slack' as const;
  readonly #ctx: AdapterContext;
  readonly #options: SlackAdapterOptions;
  #socket: SocketModeReceiver | undefined;
  #http: HTTPReceiver | undefined;
  #address: AddressInfo | undefined;
  #renderer: SlackRenderer | undefined;
  #knowledge: SlackKnowledge | undefined;
  #starting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  readonly #stats = { duplicates: 0 };

  constructor(ctx: AdapterContext, options: SlackAdapterOptions = {}) {
    this.#ctx = ctx;
    this.#options = options;
  }

  /** Counters for tests and the log: deliveries dropped as repeats. */
  get stats(): Readonly<{ duplicates: number }> {
    return this.#stats;
  }

  /** HTTP mode: where the app listens (after start). */
  httpAddress(): { host: string; port: number } | undefined {
    return this.#address ? { host: this.#address.address, port: this.#address.port } : undefined;
  }

  start(opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.#starting ??= this.#start(opts);
    return this.#starting;
  }

  async #start(opts: { signal?: AbortSignal }): Promise<void> {
    const { config, log } = this.#ctx;
    const cfg = config.slack;
    if (!cfg.botToken) throw new HearthError('INVALID_INPUT', 'slack.botToken is not set, so the Slack app cannot start', { key: 'slack.botToken' });
    opts.signal?.throwIfAborted();

    const logger = boltLogger(log, log.isLevelEnabled('debug') ? LogLevel.DEBUG : LogLevel.WARN);
    const clientOptions = { slackApiUrl: cfg.apiUrl, ...this.#options.clientOptions };
    // Each client gets its own copy: the Socket Mode client writes its retry settings into the one it is given.
    if (cfg.mode === 'socket') {
      if (!cfg.appToken) throw new HearthError('INVALID_INPUT', 'slack.appToken is needed in Socket Mode', { key: 'slack.appToken' });
      this.#socket = new SocketModeReceiver({ appToken: cfg.appToken, logger, logLevel: logger.getLevel(), installerOptions: { clientOptions: { ...clientOptions } } });
    } else {
      if (!cfg.signingSecret) throw new HearthError('INVALID_INPUT', 'slack.signingSecret is needed in HTTP mode', { key: 'slack.signingSecret' });
      this.#http = new HTTPReceiver({
        signingSecret: cfg.signingSecret,
        endpoints: '/slack/events',
        logger,
        logLevel: logger.getLevel(),
        installerOptions: { clientOptions: { ...clientOptions } },
      });
    }
    const receiver = this.#socket ?? this.#http;
    if (!receiver) throw new HearthError('INVALID_INPUT', `slack.mode must be socket or http; got ${String(cfg.mode)}`, { key: 'slack.mode' });
    const app = new App({ token: cfg.botToken, receiver, logger, logLevel: logger.getLevel(), clientOptions: { ...clientOptions }, deferInitialization: true });
    app.error(async (e) => this.#ctx.reportError(e, 'slack'));

    const api = new SlackApi(app.client);
    this.#knowledge = this.#knowledgeFor(api);
    const h: HandlerContext = {
      api,
      commands: this.#ctx.commands,
      jobs: this.#ctx.jobs,
      access: new SlackAccess(config),
      seen: new SeenEvents({ clock: this.#ctx.clock, ...this.#seenFile() }),
      config,
      report: (e, where) => this.#ctx.reportError(e, where),
      dropView: (origin) => this.#renderer?.drop(origin) ?? Promise.resolve(),
      stats: this.#stats,
      ...(this.#knowledge ? { knowledge: this.#knowledge } : {}),
    };
    h.seen.load();
    registerSlashCommands(app, h);
    registerEvents(app, h);
    registerActions(app, h);

    this.#renderer = new SlackRenderer(this.#ctx.jobs, {
      api,
      intervalMs: cfg.updateIntervalMs,
      now: () => this.#ctx.clock.now(),
      report: h.report,
      streaming: new StreamingSupport(log, this.#options.streaming !== false),
      vary: this.#ctx.commands.limits.image.fromImage,
      record: (jobId, origin) => {
        const r = this.#ctx.jobs.updateOrigin(jobId, origin);
        // ALREADY_ENDED: its end was delivered meanwhile (an ended job's origin is written until then), so nothing is left to take back.
        if (!r.ok && r.error.code !== 'NOT_FOUND' && r.error.code !== 'ALREADY_ENDED') h.report(new Error(r.error.message), `slack: recording the answer of job ${jobId}`);
      },
    });

    try {
      await abortable(app.init(), opts.signal).catch((e: unknown) => {
        throw startError(e, 'slack.botToken', cfg.apiUrl);
      });
      this.#renderer.start();
      if (this.#socket) {
        await abortable(this.#socket.start(), opts.signal).catch((e: unknown) => {
          throw startError(e, 'slack.appToken', cfg.apiUrl);
        });
      } else if (this.#http) {
        const listen = { port: cfg.port, ...(this.#options.host ? { host: this.#options.host } : {}) };
        const server = await abortable(this.#http.start(listen), opts.signal).catch((e: unknown) => {
          if ((e as { code?: unknown }).code !== 'EADDRINUSE') throw e;
          throw new HearthError('INVALID_INPUT', `slack.port ${cfg.port} is already in use; choose another port for HTTP mode`, { key: 'slack.port', given: cfg.port });
        });
        this.#address = server.address() as AddressInfo;
      }
      log.info({ mode: cfg.mode, ...(this.#address ? { port: this.#address.port } : {}) }, 'Slack app connected');
      if (this.#knowledge) {
        this.#ctx.knowledge?.register(this.#knowledge);
        const botUserId = (await app.client.auth.test()).user_id;
        this.#knowledge.start(botUserId ? { botUserId } : {});
      }
    } catch (e) {
      await this.#shutdown().catch((e2: unknown) => this.#ctx.reportError(e2, 'slack: stopping after a failed start'));
      throw e;
    }
  }

  /** Workspace knowledge of `knowledge.slackChannels`, when configured. */
  #knowledgeFor(api: SlackApi): SlackKnowledge | undefined {
    const kb = this.#ctx.knowledge;
    const k = this.#ctx.config.knowledge;
    if (!kb || k.slackChannels.length === 0) return undefined;
    return new SlackKnowledge({
      api,
      index: kb.index,
      channels: k.slackChannels,
      requestsPerMinute: k.slackRequestsPerMinute,
      accessCacheMs: k.accessCacheSeconds * 1000,
      now: () => this.#ctx.clock.now(),
      report: (e, where) => this.#ctx.reportError(e, where),
    });
  }

  /** Knowledge for tests and the admin view: the Slack side of the index, when configured. */
  get knowledge(): SlackKnowledge | undefined {
    return this.#knowledge;
  }

  #seenFile(): { file?: string } {
    const f = this.#options.seenEventsFile;
    if (f === false) return {};
    return { file: f ?? join(this.#ctx.config.dataDir, 'slack-seen-events.log') };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#starting?.catch(() => {});
      await this.#shutdown();
    })();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    if (this.#knowledge) {
      this.#ctx.knowledge?.unregister(this.#knowledge);
      await this.#knowledge.stop();
    }
    await this.#renderer?.close();
    if (this.#socket) {
      // The receiver's own stop() does not wait for the socket to close; an open socket keeps the
      // process alive for its ping timers.
      const client = this.#socket.client;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([client.disconnect(), new Promise<void>((resolve) => (timer = setTimeout(resolve, DISCONNECT_WAIT_MS)))]);
      clearTimeout(timer);
    }
    if (this.#http && this.#address) await this.#http.stop();
  }
}

const REJECTED_TOKEN = new Set(['invalid_auth', 'not_authed', 'account_inactive', 'token_revoked', 'token_expired', 'not_allowed_token_type']);

/** A failed start in words that name what to fix: the token Slack refused, or the address it could not reach. */
function startError(e: unknown, key: 'slack.botToken' | 'slack.appToken', apiUrl: string): unknown {
  const code = slackErrorCode(e);
  if (code && REJECTED_TOKEN.has(code)) {
    const what = key === 'slack.botToken' ? 'the bot token (xoxb-…)' : 'the app-level token (xapp-…, with connections:write)';
    return new HearthError('INVALID_INPUT', `Slack did not accept ${key} (${code}); check ${what} in your Slack app settings`, { key, given: code });
  }
  if (!code && e instanceof Error && !(e instanceof HearthError) && e.name !== 'AbortError' && (e as { code?: unknown }).code === 'slack_webapi_request_error') {
    return new HearthError('INVALID_INPUT', `could not reach Slack at ${apiUrl} (slack.apiUrl): ${e.message}`, { key: 'slack.apiUrl', given: apiUrl });
  }
  return e;
}

function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
