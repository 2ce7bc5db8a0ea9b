import type { Json } from '../../engine/types.js';

/** The command a job answers; aux jobs of another kind (an /ask's image description) share its origin. */
export type DiscordCommand = 'ask' | 'imagine' | 'caption';

/**
 * Where a Discord job is answered, stored with the job (JSON) so the answer finds its way after a
 * restart. Either an interaction (its token edits `@original` for 15 minutes) or a message hearth
 * posted before queueing the job (mention replies, thread-per-ask answers), which never expires.
 */
export interface DiscordOrigin {
  platform: 'discord';
  command: DiscordCommand;
  /** The raw Discord user id of the job's owner. */
  userId: string;
  /** Where to post when the interaction token is gone. */
  channelId: string;
  guildId: string | null;
  /** Answered only to the user (an ephemeral reply; a DM once the token is gone). */
  ephemeral: boolean;
  interaction?: { id: string; token: string; applicationId: string; createdAt: number };
  message?: { channelId: string; messageId: string };
  /** Largest upload the channel accepts (the interaction's `attachment_size_limit`), bytes. */
  maxUploadBytes?: number;
  /**
   * The messages hearth posted for the answer besides the reply itself (follow-ups, and channel
   * messages it edits), kept with the job so that an answer that starts over after a restart can
   * remove them instead of leaving the first attempt's text behind.
   */
  followups?: PostedMessage[];
  /**
   * Set while hearth asks Discord for a new message of the answer (a follow-up, or a message in a
   * channel): a kill -9 before Discord's reply is stored leaves a message no `followups` names. After
   * a restart the view looks for it (src/bots/discord/orphans.ts) and takes it back with the rest.
   */
  posting?: PostingIntent;
}

/** Hearth is asking Discord for a new message of an answer: where, and what was newest before. */
export interface PostingIntent {
  /** An interaction follow-up (marked by Discord with the interaction's id), or a plain channel message. */
  via: 'interaction' | 'channel';
  channelId: string;
  /** The newest snowflake known before the request: the message Discord makes is newer. */
  after: string;
}

/** A message hearth posted and may edit or delete: an interaction follow-up or a channel message. */
export interface PostedMessage {
  via: 'interaction' | 'channel';
  channelId: string;
  id: string;
}

/** The key of the view a job renders into: jobs with the same origin share one set of messages. */
export function originKey(o: DiscordOrigin): string {
  if (o.interaction) return `i:${o.interaction.id}`;
  if (o.message) return `m:${o.message.messageId}`;
  return `c:${o.channelId}:${o.userId}`;
}

export function originToJson(o: DiscordOrigin): Json {
  return JSON.parse(JSON.stringify(o)) as Json;
}

/** Reads a stored origin; anything that is not a Discord origin (another platform's job) gives null. */
export function parseOrigin(value: Json | null | undefined): DiscordOrigin | null {
  if (!isObject(value) || value.platform !== 'discord') return null;
  const command = value.command;
  if (command !== 'ask' && command !== 'imagine' && command !== 'caption') return null;
  if (typeof value.userId !== 'string' || typeof value.channelId !== 'string') return null;
  const o: DiscordOrigin = {
    platform: 'discord',
    command,
    userId: value.userId,
    channelId: value.channelId,
    guildId: typeof value.guildId === 'string' ? value.guildId : null,
    ephemeral: value.ephemeral === true,
  };
  const i = value.interaction;
  if (isObject(i) && typeof i.id === 'string' && typeof i.token === 'string' && typeof i.applicationId === 'string' && typeof i.createdAt === 'number') {
    o.interaction = { id: i.id, token: i.token, applicationId: i.applicationId, createdAt: i.createdAt };
  }
  const m = value.message;
  if (isObject(m) && typeof m.channelId === 'string' && typeof m.messageId === 'string') {
    o.message = { channelId: m.channelId, messageId: m.messageId };
  }
  if (typeof value.maxUploadBytes === 'number') o.maxUploadBytes = value.maxUploadBytes;
  const f = value.followups;
  if (Array.isArray(f)) o.followups = f.filter(isPosted).map((p) => ({ via: p.via, channelId: p.channelId, id: p.id }));
  const p = value.posting;
  if (isObject(p) && (p.via === 'interaction' || p.via === 'channel') && typeof p.channelId === 'string' && typeof p.after === 'string') {
    o.posting = { via: p.via, channelId: p.channelId, after: p.after };
  }
  return o;
}

/** The job kind that is the answer to a command (other kinds under the same origin are helpers). */
export function mainKind(command: DiscordCommand): 'chat' | 'image' | 'caption' {
  return command === 'ask' ? 'chat' : command === 'imagine' ? 'image' : 'caption';
}

function isPosted(v: Json): v is { via: 'interaction' | 'channel'; channelId: string; id: string } {
  return isObject(v) && (v.via === 'interaction' || v.via === 'channel') && typeof v.channelId === 'string' && typeof v.id === 'string';
}

export function isObject(v: Json | null | undefined): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
