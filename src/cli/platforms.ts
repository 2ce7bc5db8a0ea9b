import type { AdapterFactory } from '../bots/adapter.js';
import { discordEnabled, slackEnabled, type HearthConfig } from '../config/schema.js';

/**
 * The platform adapters to start: the web console always (the embedded default, and the operator's
 * dashboard), Discord and Slack when they have credentials. Imported on demand, so a console-only
 * hearth never loads discord.js or bolt.
 */
export async function platformAdapters(config: HearthConfig): Promise<Array<{ name: string; factory: AdapterFactory }>> {
  const out: Array<{ name: string; factory: AdapterFactory }> = [];
  if (discordEnabled(config)) {
    const { createDiscordAdapter } = await import('../bots/discord/index.js');
    out.push({ name: 'discord', factory: (ctx) => createDiscordAdapter(ctx) });
  }
  if (slackEnabled(config)) {
    const { createSlackAdapter } = await import('../bots/slack/index.js');
    out.push({ name: 'slack', factory: (ctx) => createSlackAdapter(ctx, { host: config.slack.host }) });
  }
  const { createWebAdapter } = await import('../bots/web/index.js');
  out.push({ name: 'web', factory: (ctx) => createWebAdapter(ctx) });
  return out;
}
