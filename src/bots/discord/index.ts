import type { AdapterContext, AdapterFactory, PlatformAdapter } from '../adapter.js';
import { DiscordAdapter, type DiscordAdapterOptions } from './discord-adapter.js';

export { DiscordAdapter, type DiscordAdapterOptions } from './discord-adapter.js';

/** The Discord adapter with its defaults (what `hearth start` uses when Discord has credentials). */
export function createDiscordAdapter(ctx: AdapterContext): PlatformAdapter {
  return new DiscordAdapter(ctx);
}

/** A factory with options (tests: a faster REST queue, a short token lifetime). */
export function discordAdapter(options: DiscordAdapterOptions = {}): AdapterFactory {
  return (ctx) => new DiscordAdapter(ctx, options);
}
