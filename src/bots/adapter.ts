import type { HearthCommands } from '../commands/hearth-commands.js';
import type { Platform } from '../commands/invocation.js';
import type { HearthConfig } from '../config/schema.js';
import type { Clock } from '../engine/clock.js';
import type { Engine } from '../engine/engine.js';
import type { Logger } from '../util/log.js';

/** What every platform adapter is given. */
export interface AdapterContext {
  commands: HearthCommands;
  /** For job events (`engine.on`) and queue snapshots; adapters never schedule anything themselves. */
  engine: Engine;
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
