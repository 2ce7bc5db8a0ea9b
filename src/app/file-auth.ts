import type { HearthConfig } from '../config/schema.js';

/** Slack's own file hosts: the only hosts the Slack bot token is ever sent to. */
const SLACK_FILE_HOSTS = new Set(['files.slack.com']);

/**
 * Headers for downloading an attachment from `host`: Slack's private files need the bot token, and only
 * Slack's file host ever gets it. Discord's CDN URLs are signed and need nothing.
 */
export function headersForFileHost(config: HearthConfig): (host: string) => Record<string, string> | undefined {
  return (host) => {
    const token = config.slack.botToken;
    if (token && SLACK_FILE_HOSTS.has(host.toLowerCase())) return { authorization: `Bearer ${token}` };
    return undefined;
  };
}
