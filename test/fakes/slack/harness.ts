/**
 * A whole hearth (simulated GPU, see test/helpers/sim-app.ts) with the real Slack adapter connected to
 * the fake Slack, in Socket Mode or HTTP mode, and one way to send it commands, events and button
 * presses whichever the mode.
 */
import type { HearthApp } from '../../../src/app/hearth-app.js';
import { createSlackAdapter, slackHeadersForHost, type SlackAdapter } from '../../../src/bots/slack/index.js';
import type { HearthConfig } from '../../../src/config/schema.js';
import type { LogCapture } from '../../helpers/log-capture.js';
import { SimGate } from '../../fixtures/sim-runner.js';
import type { Runner } from '../../../src/engine/runner.js';
import { simApp, type SimAppOptions } from '../../helpers/sim-app.js';
import type { SimFaults } from '../../helpers/sim-faults.js';
import type { Delivery } from './deliveries.js';
import { FakeSlack } from './fake-slack.js';
import { buttonPress, eventCallback, slashCommand, type Who } from './payloads.js';

type Json = Record<string, unknown>;

export interface HarnessOptions {
  mode: 'socket' | 'http';
  /** Reuse a fake (restart tests); otherwise a new one is started. */
  fake?: FakeSlack;
  /** Reuse a data dir (restart tests). */
  dataDir?: string;
  slack?: Record<string, unknown>;
  config?: Record<string, unknown>;
  chatStepMs?: number;
  imageStepMs?: number;
  /** Faults the test can set on the simulated GPU. */
  faults?: SimFaults;
  /** Real runners beside the simulated ones (see simApp). */
  runners?: Runner[];
  /** The GPU worker is still starting until this settles: start() returns once Slack is connected. */
  describeGate?: Promise<void>;
  /** Log into this capture (restart tests keep one across runs); a new one by default. */
  logs?: LogCapture;
  /**
   * Web API client options over the tests' `{ retryConfig: { retries: 0 } }`. With no retries a 429 is
   * not retried (the Web API client retries a rate-limited call through its retry policy); pass a
   * retryConfig to have it waited out, as hearth's default (10 retries) does.
   */
  clientOptions?: Record<string, unknown>;
  /** Hold simulated steps with this gate (restart tests keep one); a new one by default. */
  gate?: SimGate;
  /**
   * Treat the fake's file host (127.0.0.1) as Slack's: downloads from it carry the bot token, through
   * hearth's own `slackHeadersForHost` (in production: files.slack.com only).
   */
  tokenForFiles?: boolean;
  /** The real image runner on this export in place of the simulated one (see {@link SimAppOptions.realImage}). */
  realImage?: SimAppOptions['realImage'];
}

/** What a delivery came back with: the Socket Mode acknowledgement, or the HTTP status. */
export interface Sent {
  status: number;
  delivery?: Delivery;
}

export class SlackHarness {
  readonly fake: FakeSlack;
  readonly app: HearthApp;
  readonly adapter: SlackAdapter;
  readonly dataDir: string;
  readonly mode: 'socket' | 'http';
  /** Everything hearth reported through reportError, as "where: message". */
  readonly errors: string[] = [];
  /** Settles once hearth has started (later than start() when a describe gate holds the models back). */
  started: Promise<void> = Promise.resolve();
  /** Everything hearth logged, when the harness built the app (not for `wrap`). */
  readonly logs: LogCapture | undefined;
  /** Holds simulated GPU steps until the test releases them (a gate of its own for `wrap`, holding nothing). */
  readonly gate: SimGate;

  /** Wraps a hearth built some other way (e.g. with the real GPU worker) whose Slack adapter talks to `fake`. */
  static wrap(fake: FakeSlack, app: HearthApp, adapter: SlackAdapter, dataDir: string, mode: 'socket' | 'http', logs?: LogCapture): SlackHarness {
    return new SlackHarness(fake, app, adapter, dataDir, mode, logs, new SimGate());
  }

  /** The `slack` config section that points hearth at `fake`. */
  static slackConfig(fake: FakeSlack, mode: 'socket' | 'http'): Record<string, unknown> {
    return { botToken: fake.botToken, appToken: fake.appToken, signingSecret: fake.signingSecret, mode, port: 0, apiUrl: fake.apiUrl, updateIntervalMs: 250 };
  }

  private constructor(fake: FakeSlack, app: HearthApp, adapter: SlackAdapter, dataDir: string, mode: 'socket' | 'http', logs: LogCapture | undefined, gate: SimGate) {
    this.fake = fake;
    this.logs = logs;
    this.gate = gate;
    this.app = app;
    this.adapter = adapter;
    this.dataDir = dataDir;
    this.mode = mode;
    const report = app.reportError.bind(app);
    app.reportError = (e: unknown, where: string) => {
      this.errors.push(`${where}: ${e instanceof Error ? e.message : String(e)}`);
      report(e, where);
    };
  }

  static async start(opts: HarnessOptions): Promise<SlackHarness> {
    const fake = opts.fake ?? new FakeSlack();
    if (!opts.fake) await fake.start();
    let adapter: SlackAdapter | undefined;
    const { app, dataDir, describing, logs, gate } = await simApp({
      ...(opts.logs ? { logs: opts.logs } : {}),
      ...(opts.gate ? { gate: opts.gate } : {}),
      config: {
        slack: { ...SlackHarness.slackConfig(fake, opts.mode), ...opts.slack },
        files: { allowedHosts: ['127.0.0.1'] },
        ...opts.config,
      },
      adapters: [(ctx) => (adapter = createSlackAdapter(ctx, { host: '127.0.0.1', clientOptions: { retryConfig: { retries: 0 }, ...opts.clientOptions } }))],
      ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
      ...(opts.chatStepMs ? { chatStepMs: opts.chatStepMs } : {}),
      ...(opts.imageStepMs ? { imageStepMs: opts.imageStepMs } : {}),
      ...(opts.faults ? { faults: opts.faults } : {}),
      ...(opts.runners ? { runners: opts.runners } : {}),
      ...(opts.describeGate ? { describeGate: opts.describeGate } : {}),
      ...(opts.tokenForFiles ? { headersForHost: tokenForFakeFiles(fake) } : {}),
      ...(opts.realImage ? { realImage: opts.realImage } : {}),
    });
    const started = app.start();
    // With a gate, the adapters are up once the engine is waiting for the models.
    await Promise.race([started, opts.describeGate ? describing : started]);
    const h = new SlackHarness(fake, app, adapter!, dataDir, opts.mode, logs, gate);
    h.started = started;
    return h;
  }

  /** Fails when the bot token, the app token or the signing secret is in hearth's log. */
  assertNoSecretsLogged(): void {
    this.logs?.assertNoSecrets(slackSecrets(this.fake));
  }

  get eventsUrl(): string {
    const a = this.adapter.httpAddress();
    if (!a) throw new Error('not in HTTP mode');
    return `http://127.0.0.1:${a.port}/slack/events`;
  }

  /** Stops hearth; the fake goes on unless `fake` is set. */
  async close(opts: { fake?: boolean } = {}): Promise<void> {
    this.gate.releaseAll();
    try {
      await this.app.close();
    } finally {
      if (opts.fake) await this.fake.close();
    }
    this.assertNoSecretsLogged();
  }

  async command(command: string, text: string, who: Who & { asSent?: boolean }): Promise<Sent> {
    const body = slashCommand(command, text, { ...who, responseUrl: this.fake.responseUrl() });
    if (this.mode === 'socket') return this.#envelope('slash_commands', body);
    const res = await this.fake.postSigned(this.eventsUrl, 'form', body);
    return { status: res.status };
  }

  async event(event: Json, opts: { eventId?: string; retryNum?: number; team?: string } = {}): Promise<Sent & { body: Json }> {
    const body = eventCallback(event, opts.team ?? 'T0001', opts.eventId);
    if (this.mode === 'socket') {
      const delivery = opts.retryNum ? await this.fake.deliveries.redeliver('events_api', body) : await this.fake.sendEnvelope('events_api', body);
      return { status: 200, delivery, body };
    }
    const res = await this.fake.postSigned(this.eventsUrl, 'events', body, opts.retryNum ? { retryNum: opts.retryNum } : {});
    return { status: res.status, body };
  }

  /** The same event callback again, as Slack's retry of it. */
  async retry(body: Json): Promise<Sent> {
    if (this.mode === 'socket') return { status: 200, delivery: await this.fake.deliveries.redeliver('events_api', body) };
    const res = await this.fake.postSigned(this.eventsUrl, 'events', body, { retryNum: 1 });
    return { status: res.status };
  }

  async press(actionId: string, value: string, who: Who & { messageTs: string; thread?: string }): Promise<Sent> {
    const body = buttonPress({ actionId, value }, { ...who, responseUrl: this.fake.responseUrl() });
    if (this.mode === 'socket') return this.#envelope('interactive', body);
    const res = await this.fake.postSigned(this.eventsUrl, 'form', { payload: JSON.stringify(body) });
    return { status: res.status };
  }

  async #envelope(type: 'slash_commands' | 'interactive', body: Json): Promise<Sent> {
    const delivery = await this.fake.sendEnvelope(type, body);
    return { status: 200, delivery };
  }
}

/** Polls until `fn` returns something truthy; fails with `what` after `ms`. */
export async function waitFor<T>(what: string, fn: () => T | undefined | null | false, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The credentials a fake Slack issued. */
export function slackSecrets(fake: FakeSlack): Record<string, string> {
  return { 'slack.botToken': fake.botToken, 'slack.appToken': fake.appToken, 'slack.signingSecret': fake.signingSecret };
}

/** hearth's own Slack file-host headers, with the fake's host (127.0.0.1) taken for files.slack.com. */
function tokenForFakeFiles(fake: FakeSlack): (host: string) => Record<string, string> | undefined {
  // slackHeadersForHost reads only slack.botToken of the config.
  const headers = slackHeadersForHost({ slack: { botToken: fake.botToken } } as unknown as HearthConfig, ['127.0.0.1']);
  if (!headers) throw new Error('no headers for a bot token');
  return headers;
}
