import { InteractionResponseType, MessageFlags, type APIInteraction } from 'discord.js';
import type { Invocation } from '../../commands/invocation.js';
import type { AdapterContext } from '../adapter.js';
import type { AckGate } from './ack-gate.js';
import type { Actor } from './access.js';
import { discordFailure, isInteractionGone } from './errors.js';
import type { HearthThreads } from './hearth-threads.js';
import { originToJson, type DiscordCommand, type DiscordOrigin } from './origin.js';
import { createdAt } from './raw.js';
import type { DiscordRest } from './rest-client.js';
import type { ViewRegistry } from './view-registry.js';

/** What the interaction and message handlers share. */
export interface HandlerDeps {
  ctx: AdapterContext;
  rest: DiscordRest;
  views: ViewRegistry;
  threads: HearthThreads;
  /** Acknowledgements go through it, so edits make way for them. */
  acks: AckGate;
  botUserId(): string;
}

/** Answers at once with a message only the user sees (access refused, a stale button). */
export async function replyEphemeral(deps: HandlerDeps, i: APIInteraction, text: string): Promise<void> {
  try {
    await deps.acks.ack(() =>
      deps.rest.respond(i.id, i.token, {
        type: InteractionResponseType.ChannelMessageWithSource,
        data: { content: text, flags: MessageFlags.Ephemeral, allowed_mentions: { parse: [] } },
      }),
    );
  } catch (e) {
    deps.ctx.reportError(discordFailure(e, 'answering an interaction'), 'discord: reply');
  }
}

/**
 * Acknowledges the interaction (Discord shows "thinking…"), the first thing done with every command,
 * so the 3-second limit holds whatever the queue. False when Discord no longer takes the answer.
 */
export async function defer(deps: HandlerDeps, i: APIInteraction, ephemeral: boolean): Promise<boolean> {
  try {
    await deps.acks.ack(() =>
      deps.rest.respond(i.id, i.token, {
        type: InteractionResponseType.DeferredChannelMessageWithSource,
        data: ephemeral ? { flags: MessageFlags.Ephemeral } : {},
      }),
    );
    return true;
  } catch (e) {
    const where = isInteractionGone(e) ? 'acknowledging an interaction that had expired' : 'acknowledging an interaction';
    deps.ctx.reportError(discordFailure(e, where), 'discord: defer');
    return false;
  }
}

/** Acknowledges a button press without changing its message yet. */
export async function deferUpdate(deps: HandlerDeps, i: APIInteraction): Promise<boolean> {
  try {
    await deps.acks.ack(() => deps.rest.respond(i.id, i.token, { type: InteractionResponseType.DeferredMessageUpdate }));
    return true;
  } catch (e) {
    deps.ctx.reportError(discordFailure(e, 'acknowledging a button'), 'discord: defer');
    return false;
  }
}

export function interactionOrigin(i: APIInteraction, command: DiscordCommand, actor: Actor, ephemeral: boolean): DiscordOrigin {
  const o: DiscordOrigin = {
    platform: 'discord',
    command,
    userId: actor.userId,
    channelId: actor.channelId,
    guildId: actor.guildId,
    ephemeral,
    interaction: { id: i.id, token: i.token, applicationId: i.application_id, createdAt: createdAt(i.id) },
  };
  if (typeof i.attachment_size_limit === 'number') o.maxUploadBytes = i.attachment_size_limit;
  return o;
}

export function invocation(
  deps: HandlerDeps,
  actor: Actor,
  access: { admin: boolean; weight: number },
  origin: DiscordOrigin,
  conversationId?: string,
): Invocation {
  // A thread takes its channel's system prompt unless it has its own.
  const prompts = deps.ctx.config.models.chat?.channelSystemPrompts ?? {};
  const adapters = deps.ctx.config.models.chat?.channelAdapters ?? {};
  const own = prompts[actor.channelId] !== undefined || adapters[actor.channelId] !== undefined;
  const channelId = !own && actor.parentId ? actor.parentId : actor.channelId;
  const inv: Invocation = {
    platform: 'discord',
    userId: `discord:${actor.userId}`,
    userName: actor.userName,
    admin: access.admin,
    weight: access.weight,
    channelId,
    origin: originToJson(origin),
  };
  if (conversationId) inv.conversationId = conversationId;
  // Workspace knowledge is looked up in the asker's own server only.
  if (actor.guildId) inv.workspaceId = actor.guildId;
  return inv;
}

/** The conversation a message belongs to: its thread, or the DM. */
export function conversationOf(actor: Actor): string | undefined {
  if (actor.isDm) return `discord:dm:${actor.channelId}`;
  if (actor.isThread) return `discord:thread:${actor.channelId}`;
  return undefined;
}
