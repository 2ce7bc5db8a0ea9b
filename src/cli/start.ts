import type { AdapterFactory, PlatformAdapter } from '../bots/adapter.js';
import type { LoadedConfig } from '../config/load.js';
import { discordEnabled, slackEnabled, type HearthConfig } from '../config/schema.js';
import { HearthApp } from '../app/hearth-app.js';
import { headersForFileHost } from '../app/file-auth.js';
import { ClusterExecutor } from '../cluster/index.js';
import type { Executor } from '../engine/executor/executor.js';
import type { Logger } from '../util/log.js';
import { createGpuWorker } from '../worker/index.js';
import { resolveVramBudget } from '../app/vram.js';
import { createLogger } from '../util/log.js';
import { EXIT } from './exit-codes.js';
import { platformAdapters } from './platforms.js';

/** `hearth start`: runs until SIGINT/SIGTERM; returns the exit code. */
export async function runStart(loaded: LoadedConfig): Promise<number> {
  const { config } = loaded;
  const log = createLogger(config.log.level);
  const budget = resolveVramBudget(config.models.vramBudgetMB);
  log.info({ vramBudgetMB: Math.round(budget.bytes / 2 ** 20), source: budget.source }, 'VRAM budget');
  const adapters = await platformAdapters(config);
  const executor = createExecutor(config, budget.bytes, log);
  const app = new HearthApp({
    config,
    log,
    executor,
    ...(executor instanceof ClusterExecutor ? { cluster: executor } : {}),
    vramBudgetBytes: budget.bytes,
    adapters: adapters.map((a) => a.factory),
    headersForHost: headersForFileHost(config),
  });
  try {
    await app.start();
  } catch (e) {
    app.reportError(e, 'start');
    process.stderr.write(`hearth could not start: ${e instanceof Error ? e.message : String(e)}\n`);
    await app.close().catch(() => {});
    return EXIT.failure;
  }
  printBanner(config, loaded.path, app.adapters);

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stdout.write('hearth is stopping…\n');
  try {
    await app.close();
    return EXIT.ok;
  } catch (e) {
    app.reportError(e, 'close');
    return EXIT.failure;
  }
}

/**
 * Where the GPU work runs: with `cluster.redisUrl`, on the cluster's workers (this process is the
 * coordinator); otherwise in the supervised GPU process on this machine.
 */
function createExecutor(config: HearthConfig, vramBudgetBytes: number, log: Logger): Executor {
  const redisUrl = config.cluster.redisUrl;
  if (!redisUrl) return createGpuWorker(config, vramBudgetBytes, log);
  return new ClusterExecutor({
    redisUrl,
    ...(config.cluster.tlsCaFile ? { tlsCaFile: config.cluster.tlsCaFile } : {}),
    heartbeatMs: Math.round(config.cluster.heartbeatSeconds * 1000),
    declaredModels: [
      ...(['chat', 'image', 'caption'] as const).filter((k) => config.models[k]).map((k) => ({ model: k, kind: k })),
      ...(config.models.embedding ? [{ model: 'embedding', kind: 'embed' as const }] : []),
    ],
    log: (level, message) => log[level]({ component: 'cluster' }, message),
  });
}

function printBanner(config: HearthConfig, path: string | null, adapters: PlatformAdapter[]): void {
  const out: string[] = [];
  out.push(`hearth is running (config: ${path ?? 'defaults — no config/hearth.yaml found'})`);
  out.push(`  Discord: ${discordEnabled(config) ? 'connected' : 'not configured (set discord.token and discord.applicationId)'}`);
  out.push(`  Slack:   ${slackEnabled(config) ? `connected (${config.slack.mode} mode)` : 'not configured (set slack.botToken, plus slack.appToken for Socket Mode)'}`);
  const models = (['chat', 'image', 'caption', 'embedding'] as const).filter((k) => config.models[k]);
  out.push(`  Models:  ${models.length > 0 ? models.join(', ') : 'none configured yet — see models.* in config/hearth.example.yaml'}`);
  const web = adapters.find((a) => a.platform === 'web') as (PlatformAdapter & { url?: () => string }) | undefined;
  if (web?.url) {
    out.push('  Web console:');
    // The console's address on a line of its own, as a full URL (scripts and tests read it).
    out.push(web.url());
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

export type { AdapterFactory };
