/** The fake Discord's state: what hearth created, edited and deleted, with the times, for assertions. */

export const DISCORD_EPOCH = 1_420_070_400_000n;

/** Discord ids: a timestamp (ms since 2015) and a counter, so an id tells when it was made. */
export class Snowflakes {
  #counter = 0;
  next(at = Date.now()): string {
    const id = ((BigInt(at) - DISCORD_EPOCH) << 22n) | BigInt(this.#counter++ & 0x3fffff);
    return id.toString();
  }
}

export interface FakeUser {
  id: string;
  username: string;
  global_name: string | null;
  discriminator: string;
  avatar: null;
  bot?: boolean;
}

export interface FakeChannel {
  id: string;
  type: number;
  guild_id?: string;
  parent_id?: string;
  owner_id?: string;
  name?: string;
  recipients?: FakeUser[];
  /** Role (type 0) and member (type 1) overwrites; allow/deny as decimal bit strings. */
  permission_overwrites?: Array<{ id: string; type: number; allow: string; deny: string }>;
  /** Threads: archived ones are listed by GET /channels/{id}/threads/archived/public, the rest as active. */
  thread_metadata?: { archived: boolean; archive_timestamp: string; auto_archive_duration: number; locked: boolean };
}

export interface FakeAttachment {
  id: string;
  filename: string;
  size: number;
  content_type: string;
  url: string;
  bytes: Uint8Array;
  description?: string;
}

export type MessageVia = 'interaction' | 'followup' | 'channel' | 'user';

export interface FakeMessage {
  id: string;
  channelId: string;
  authorId: string;
  content: string;
  flags: number;
  components: unknown[];
  attachments: FakeAttachment[];
  via: MessageVia;
  /** The interaction whose reply or follow-up this is. */
  interactionId?: string;
  replyTo?: string;
  createdAt: number;
  /** Arrival time of every edit (PATCH). */
  edits: number[];
  /** Content after creation and after each edit. */
  history: string[];
  deleted: boolean;
  mentionsBot?: boolean;
  /** Users the message was allowed to ping. */
  allowedUsers: string[];
}

export interface FakeInteraction {
  id: string;
  token: string;
  type: number;
  name: string;
  customId?: string;
  userId: string;
  channelId: string;
  guildId: string | null;
  dispatchedAt: number;
  /** Callbacks received: the first is the acknowledgement. */
  callbacks: Array<{ type: number; at: number; data: Record<string, unknown> | undefined }>;
  /** The message `@original` refers to (the reply, or the message of a pressed button). */
  originalId?: string;
  followupIds: string[];
  expired: boolean;
  choices?: Array<{ name: string; value: unknown }>;
  /** The component's message (buttons). */
  messageId?: string;
}

export const LOADING = 1 << 7;
export const EPHEMERAL = 1 << 6;

export const Intents = {
  GuildMessages: 1 << 9,
  DirectMessages: 1 << 12,
  MessageContent: 1 << 15,
} as const;

export const ChannelTypes = { GuildText: 0, DM: 1, PublicThread: 11, PrivateThread: 12 } as const;
