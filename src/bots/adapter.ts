import type { HearthCommands } from '../commands/hearth-commands.js';
import type { Platform } from '../commands/invocation.js';
import type { HearthConfig } from '../config/schema.js';
import type { Clock } from '../engine/clock.js';
import type { JobFeed } from '../engine/job-feed.js';
import type { Monitoring } from '../monitoring/index.js';
import type { KnowledgeBase } from '../knowledge/knowledge-base.js';
import type { Logger } from '../util/log.js';

/**
 * The narrow door adapters get to the engine ({@link JobFeed}): its events, a job by id, a durable place
 * in a job's origin to record what the adapter posted, and readiness. Queue views and commands go
 * through `commands`.
 */
export type AdapterJobs = JobFeed;

/** What every platform adapter is given. */
export interface AdapterContext {
  commands: HearthCommands;
  /** Job events and the jobs they are about; adapters never schedule anything themselves, and never poll. */
  jobs: AdapterJobs;
  config: HearthConfig;
  clock: Clock;
  log: Logger;
  /** GPU telemetry and the Prometheus metrics (absent where the app does not watch them). */
  monitoring?: Monitoring;
  /** The one place every handler error goes (logged with context; nothing is swallowed). */
  reportError(error: unknown, where: string): void;
  /** Workspace knowledge, when `knowledge.*Channels` name channels: the platform indexes them and registers its access checks. */
  knowledge?: KnowledgeBase;
}

/**
 * A platform adapter (Discord, Slack, the web console): turns platform events into command calls and
 * engine events into messages. The only code that imports a platform library lives behind this.
 */
export interface PlatformAdapter {
  readonly platform: Platform;
  /** Connects and registers commands. Resolves once the adapter receives events. */
  start(opts?: { signal?: AbortSignal }): Promise<void>;
  /** Disconnects; returns the same promise when called again. */
  close(): Promise<void>;
}

export type AdapterFactory = (ctx: AdapterContext) => PlatformAdapter;
