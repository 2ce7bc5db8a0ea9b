/** A whole hearth (simulated GPU) with the Discord adapter logged into a fake Discord. */
import type { HearthApp } from '../../../src/app/hearth-app.js';
import type { AdapterFactory } from '../../../src/bots/adapter.js';
import { DiscordAdapter, type DiscordAdapterOptions } from '../../../src/bots/discord/index.js';
import type { HearthConfig } from '../../../src/config/schema.js';
import { simApp } from '../../helpers/sim-app.js';
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
  /** The GPU worker is still starting until this settles: discordHearth returns once the bot is logged in. */
  describeGate?: Promise<void>;
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
  /** Closes the app (the fake stays up for a restart). */
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
  const { app, config, dataDir, describing } = await simApp({
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
    ...(opts.describeGate ? { describeGate: opts.describeGate } : {}),
  });
  const started = app.start();
  // With a gate, the adapter is up once the engine is waiting for the models.
  await Promise.race([started, opts.describeGate ? describing : started]);
  return { fake, app, config, dataDir, reported, started, stop: () => app.close() };
}
