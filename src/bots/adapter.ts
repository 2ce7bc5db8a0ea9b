import type { HearthCommands } from '../commands/hearth-commands.js';
import type { Platform } from '../commands/invocation.js';
import type { HearthConfig } from '../config/schema.js';
import type { Clock } from '../engine/clock.js';
import type { EngineEvent, JobRecord, Json, Result } from '../engine/types.js';
import type { Logger } from '../util/log.js';

/**
 * The narrow door adapters get to the engine: its events, a job by id, and a durable place in a job's
 * origin to record what the adapter posted for it. Queue views and commands go through `commands`.
 */
export interface AdapterJobs {
  /** Every job's events. Returns the unsubscribe function. */
  subscribe(listener: (e: EngineEvent) => void): () => void;
  getJob(jobId: string): JobRecord | undefined;
  /** Replaces a queued or running job's origin, durably (NOT_FOUND once it has ended). */
  updateOrigin(jobId: string, origin: Json): Result<JobRecord>;
}

/** What every platform adapter is given. */
export interface AdapterContext {
  commands: HearthCommands;
  /** Job events and the jobs they are about; adapters never schedule anything themselves, and never poll. */
  jobs: AdapterJobs;
  config: HearthConfig;
  clock: Clock;
  log: Logger;
  /** The one place every handler error goes (logged with context; nothing is swallowed). */
  reportError(error: unknown, where: string): void;
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
