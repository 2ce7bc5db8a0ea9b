/**
 * Discord messages as the knowledge index holds them, and the Discord REST reads the knowledge makes
 * ({@link DiscordReader}, implemented in src/bots/discord over discord.js's REST client, which waits
 * out 429s as Discord's Retry-After says). Only the raw JSON fields hearth reads are typed here, so
 * this room never imports the platform library.
 */
import type { IndexedMessage } from './types.js';

/** The fields of a Discord user hearth reads. */
export interface DiscordUserJson {
  id: string;
  username?: string;
  global_name?: string | null;
  bot?: boolean;
}

/** The fields of a Discord message (REST or gateway) hearth reads. */
export interface DiscordMessageJson {
  id: string;
  channel_id: string;
  guild_id?: string;
  author?: DiscordUserJson;
  member?: { nick?: string | null } | null;
  content?: string;
  timestamp?: string;
  type?: number;
  mentions?: DiscordUserJson[];
}

/** A permission overwrite on a channel: type 0 for a role, 1 for a member; allow/deny bit sets as decimal strings. */
export interface DiscordOverwriteJson {
  id: string;
  type: number;
  allow: string;
  deny: string;
}

/** The fields of a Discord channel (or thread) hearth reads. */
export interface DiscordChannelJson {
  id: string;
  type: number;
  guild_id?: string;
  parent_id?: string | null;
  name?: string | null;
  permission_overwrites?: DiscordOverwriteJson[];
}

export interface DiscordRoleJson {
  id: string;
  permissions: string;
}

/** What a guild's permissions are computed from: its owner and its roles (the @everyone role has the guild's id). */
export interface DiscordGuildAccess {
  ownerId: string;
  roles: DiscordRoleJson[];
}

/** A page of GET /channels/{id}/messages: `before` (older, newest first) or `after` (the oldest after it). */
export interface DiscordPage {
  limit: number;
  before?: string;
  after?: string;
}

/**
 * The Discord REST reads of workspace knowledge. Every call may reject with the platform's error;
 * `member` resolves undefined for someone who is not in the guild.
 */
export interface DiscordReader {
  channel(id: string, signal?: AbortSignal): Promise<DiscordChannelJson>;
  messages(channel: string, page: DiscordPage, signal?: AbortSignal): Promise<DiscordMessageJson[]>;
  /** The guild's active threads (all channels'). */
  activeThreads(guild: string, signal?: AbortSignal): Promise<DiscordChannelJson[]>;
  /** A channel's archived public threads, newest archived first, before an ISO timestamp. */
  archivedThreads(channel: string, before: string | undefined, signal?: AbortSignal): Promise<{ threads: Array<DiscordChannelJson & { archivedAt?: string }>; hasMore: boolean }>;
  guild(guild: string, signal?: AbortSignal): Promise<DiscordGuildAccess>;
  member(guild: string, user: string, signal?: AbortSignal): Promise<{ roles: string[] } | undefined>;
}

/** Message types that are something someone said (DEFAULT, REPLY); joins, pins, thread notices are not indexed. */
const SAID: ReadonlySet<number> = new Set([0, 19]);

/** Channel types that are threads (announcement, public, private). */
export const THREAD_TYPES: ReadonlySet<number> = new Set([10, 11, 12]);

/** Discord's link to a message; a thread's message is linked in its thread. */
export function discordMessageLink(guild: string, channel: string, messageId: string): string {
  return `https://discord.com/channels/${guild}/${channel}/${messageId}`;
}

/** Snowflake order (ids are time-ordered): negative when `a` is older. */
export function compareSnowflakes(a: string, b: string): number {
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}

/** The newer of two snowflakes (either may be absent). */
export function newerSnowflake(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareSnowflakes(a, b) >= 0 ? a : b;
}

/** Discord's markdown tokens as words: user mentions by name, channels and roles as `#…`/`@…`. */
export function discordPlainText(text: string, mentions: readonly DiscordUserJson[] = []): string {
  const names = new Map(mentions.map((u) => [u.id, u.global_name ?? u.username ?? u.id]));
  return text
    .replace(/<@!?(\d+)>/g, (_m, id: string) => `@${names.get(id) ?? id}`)
    .replace(/<@&(\d+)>/g, '@role')
    .replace(/<#(\d+)>/g, '#channel')
    .replace(/<a?:(\w+):\d+>/g, ':$1:');
}

/**
 * The message to index from a raw Discord message, or undefined when it is not one to index (a system
 * message, an empty one, hearth's own or one addressed to hearth). `channel` is the indexed channel; `thread` the thread it was
 * said in, if any.
 */
export function indexableDiscordMessage(
  raw: DiscordMessageJson,
  where: { guild: string; channel: string; thread?: string; botUserId?: string },
): IndexedMessage | undefined {
  const author = raw.author;
  if (!author || (raw.type !== undefined && !SAID.has(raw.type))) return undefined;
  if (where.botUserId && author.id === where.botUserId) return undefined;
  // A message that mentions hearth is a question to it, not something the team knows: indexed, it
  // would come back as the best "source" for the very question it asks.
  if (where.botUserId && raw.mentions?.some((u) => u.id === where.botUserId)) return undefined;
  const text = discordPlainText(raw.content ?? '', raw.mentions).trim();
  if (text.length === 0) return undefined;
  const at = raw.timestamp ? Date.parse(raw.timestamp) : NaN;
  const name = raw.member?.nick ?? author.global_name ?? author.username;
  return {
    platform: 'discord',
    workspace: where.guild,
    channel: where.channel,
    messageId: raw.id,
    ...(where.thread ? { threadId: where.thread } : {}),
    author: author.id,
    ...(name ? { authorName: name } : {}),
    at: Number.isFinite(at) ? at : snowflakeTime(raw.id),
    text,
    permalink: discordMessageLink(where.guild, where.thread ?? where.channel, raw.id),
  };
}

/** When a snowflake was made (epoch ms). */
export function snowflakeTime(id: string): number {
  return Number((BigInt(id) >> 22n) + 1_420_070_400_000n);
}

/** The wait a rejected rate-limited call asks for (ms), or undefined for any other error (discord.js RateLimitError). */
export function discordRateLimitWaitMs(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const { name, retryAfter } = e as { name?: unknown; retryAfter?: unknown };
  if (name !== 'RateLimitError' && !(e instanceof Error && e.constructor.name === 'RateLimitError')) return undefined;
  return typeof retryAfter === 'number' && retryAfter >= 0 ? retryAfter : 1000;
}
