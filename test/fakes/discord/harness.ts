/** A whole hearth (simulated GPU) with the Discord adapter logged into a fake Discord. */
import type { HearthApp } from '../../../src/app/hearth-app.js';
import type { AdapterFactory } from '../../../src/bots/adapter.js';
import { DiscordAdapter, type DiscordAdapterOptions } from '../../../src/bots/discord/index.js';
import type { HearthConfig } from '../../../src/config/schema.js';
import type { LogCapture } from '../../helpers/log-capture.js';
import type { SimGate } from '../../fixtures/sim-runner.js';
import type { Runner } from '../../../src/engine/runner.js';
import { simApp, type SimAppOptions } from '../../helpers/sim-app.js';
import type { SimFaults } from '../../helpers/sim-faults.js';
import { FakeDiscord } from './fake-discord.js';

export interface DiscordHearthOptions {
  fake?: FakeDiscord;
  /** `discord` keys over the test defaults. */
  discord?: Record<string, unknown>;
  /** Other top-level config sections. */
  config?: Record<string, unknown>;
  adapter?: DiscordAdapterOptions;
  dataDir?: string;
  chatStepMs?: number;
  imageStepMs?: number;
  /** Faults the test can set on the simulated GPU. */
  faults?: SimFaults;
  /** Real runners beside the simulated ones (see simApp). */
  runners?: Runner[];
  /** The GPU worker is still starting until this settles: discordHearth returns once the bot is logged in. */
  describeGate?: Promise<void>;
  /** Log into this capture (restart tests keep one across runs); a new one by default. */
  logs?: LogCapture;
  /** Hold simulated steps with this gate (restart tests keep one); a new one by default. */
  gate?: SimGate;
  /** The real image runner on this export in place of the simulated one (see {@link SimAppOptions.realImage}). */
  realImage?: SimAppOptions['realImage'];
}

export interface DiscordHearth {
  fake: FakeDiscord;
  app: HearthApp;
  config: HearthConfig;
  dataDir: string;
  /** Everything the adapter handed to reportError. */
  reported: Array<{ where: string; message: string }>;
  /** Settles once hearth has started (later than discordHearth when a describe gate holds the models back). */
  started: Promise<void>;
  /** Everything hearth logged (debug level and up). */
  logs: LogCapture;
  /** Holds simulated GPU steps until the test releases them. */
  gate: SimGate;
  /** Fails when the bot token or any interaction token the fake issued is in the log. */
  assertNoSecretsLogged(): void;
  /** Closes the app (the fake stays up for a restart), then checks the log for credentials. */
  stop(): Promise<void>;
}

export async function discordHearth(opts: DiscordHearthOptions = {}): Promise<DiscordHearth> {
  const fake = opts.fake ?? (await FakeDiscord.start());
  const reported: DiscordHearth['reported'] = [];
  const factory: AdapterFactory = (ctx) =>
    new DiscordAdapter(
      {
        ...ctx,
        reportError: (e, where) => {
          reported.push({ where, message: e instanceof Error ? e.message : String(e) });
          ctx.reportError(e, where);
        },
      },
      { rest: { globalRequestsPerSecond: 10_000 }, closeTimeoutMs: 2000, ...opts.adapter },
    );
  const { app, config, dataDir, describing, logs, gate } = await simApp({
    ...(opts.logs ? { logs: opts.logs } : {}),
    ...(opts.gate ? { gate: opts.gate } : {}),
    config: {
      discord: { token: fake.token, applicationId: fake.applicationId, apiBaseUrl: fake.apiBaseUrl, editIntervalMs: 250, ...opts.discord },
      files: { allowedHosts: ['127.0.0.1'] },
      ...opts.config,
    },
    adapters: [factory],
    ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    ...(opts.chatStepMs !== undefined ? { chatStepMs: opts.chatStepMs } : {}),
    ...(opts.imageStepMs !== undefined ? { imageStepMs: opts.imageStepMs } : {}),
    ...(opts.faults ? { faults: opts.faults } : {}),
    ...(opts.runners ? { runners: opts.runners } : {}),
    ...(opts.describeGate ? { describeGate: opts.describeGate } : {}),
    ...(opts.realImage ? { realImage: opts.realImage } : {}),
  });
  const started = app.start();
  // With a gate, the adapter is up once the engine is waiting for the models.
  await Promise.race([started, opts.describeGate ? describing : started]);
  const assertNoSecretsLogged = () => logs.assertNoSecrets(discordSecrets(fake));
  return {
    fake,
    app,
    config,
    dataDir,
    reported,
    started,
    logs,
    gate,
    assertNoSecretsLogged,
    stop: async () => {
      gate.releaseAll();
      await app.close();
      assertNoSecretsLogged();
    },
  };
}

/** The credentials a fake Discord handed out: the bot token and every interaction's token. */
export function discordSecrets(fake: FakeDiscord): Record<string, string> {
  const out: Record<string, string> = { 'discord.token': fake.token };
  for (const it of fake.state.interactions.values()) out[`interaction ${it.id} token`] = it.token;
  return out;
}
