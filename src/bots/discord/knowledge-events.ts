/**
 * Workspace knowledge on Discord, as the adapter runs it: the Discord side of the index
 * ({@link DiscordKnowledge}) made from the config, and the gateway's message events fed into it.
 */
import { GatewayDispatchEvents, type Client, type GatewayMessageDeleteBulkDispatchData, type GatewayMessageDeleteDispatchData } from 'discord.js';
import { DiscordKnowledge } from '../../knowledge/discord-knowledge.js';
import type { DiscordMessageJson } from '../../knowledge/discord-messages.js';
import type { AdapterContext } from '../adapter.js';
import { DiscordKnowledgeReader } from './knowledge-reader.js';

/** The Discord side of workspace knowledge, when `knowledge.discordChannels` names channels (and the app keeps an index). */
export function discordKnowledgeFor(ctx: AdapterContext, client: Client, shutdown: AbortSignal, report: (e: unknown, where: string) => void): DiscordKnowledge | undefined {
  const k = ctx.config.knowledge;
  if (!ctx.knowledge || k.discordChannels.length === 0) return undefined;
  return new DiscordKnowledge({
    api: new DiscordKnowledgeReader(client.rest, shutdown),
    index: ctx.knowledge.index,
    channels: k.discordChannels,
    requestsPerSecond: k.discordRequestsPerSecond,
    accessCacheMs: k.accessCacheSeconds * 1000,
    now: () => ctx.clock.now(),
    report,
  });
}

/** Feeds new, edited and deleted messages into the index; `track` keeps the handlers close() waits for. */
export function listenForKnowledge(client: Client, knowledge: DiscordKnowledge, track: (p: Promise<void>) => void, report: (e: unknown, where: string) => void): void {
  const guarded = (p: Promise<void>) => track(p.catch((e: unknown) => report(e, 'discord: indexing a message')));
  client.ws.on(GatewayDispatchEvents.MessageCreate, (d: DiscordMessageJson) => guarded(knowledge.onMessage(d, false)));
  client.ws.on(GatewayDispatchEvents.MessageUpdate, (d: DiscordMessageJson) => guarded(knowledge.onMessage(d, true)));
  client.ws.on(GatewayDispatchEvents.MessageDelete, (d: GatewayMessageDeleteDispatchData) =>
    guarded(knowledge.onDelete({ channel_id: d.channel_id, id: d.id, ...(d.guild_id ? { guild_id: d.guild_id } : {}) })),
  );
  client.ws.on(GatewayDispatchEvents.MessageDeleteBulk, (d: GatewayMessageDeleteBulkDispatchData) =>
    guarded(knowledge.onDelete({ channel_id: d.channel_id, ids: d.ids, ...(d.guild_id ? { guild_id: d.guild_id } : {}) })),
  );
}
