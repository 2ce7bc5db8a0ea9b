import type { HearthConfig } from '../../config/schema.js';
import type { AdapterContext } from '../adapter.js';
import { SlackAdapter, type SlackAdapterOptions } from './slack-adapter.js';

export { SlackAdapter, type SlackAdapterOptions } from './slack-adapter.js';
export { parseImagine, imagineHelp } from './imagine-flags.js';
export { slackAppManifest, BOT_SCOPES, SLASH_COMMANDS, type ManifestOptions } from './manifest.js';

/** The Slack adapter (Socket Mode or HTTP mode per `slack.mode`). */
export function createSlackAdapter(ctx: AdapterContext, options: SlackAdapterOptions = {}): SlackAdapter {
  return new SlackAdapter(ctx, options);
}

/** Slack's own file host: private files (`url_private`) need the bot token, and nothing else gets it. */
export const SLACK_FILE_HOSTS: readonly string[] = ['files.slack.com'];

/**
 * Headers for downloading a file shared in Slack (`HearthCommandsOptions.headersForHost`): the bot
 * token for Slack's file host only, and nothing for any other host (safe-fetch asks again on every
 * redirect hop, so a redirect elsewhere never carries the token). Undefined when Slack is not set up.
 */
export function slackHeadersForHost(config: HearthConfig, hosts: readonly string[] = SLACK_FILE_HOSTS): ((host: string) => Record<string, string> | undefined) | undefined {
  const token = config.slack.botToken;
  if (!token) return undefined;
  const allowed = new Set(hosts.map((h) => h.toLowerCase()));
  return (host) => (allowed.has(host.toLowerCase()) ? { Authorization: `Bearer ${token}` } : undefined);
}
