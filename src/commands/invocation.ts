import type { Json } from '../engine/types.js';

export type Platform = 'discord' | 'slack' | 'web';

/**
 * Who runs a command and where, as an adapter hands it to the commands. Platform-free: ids are
 * qualified by platform, so `discord:123` and `slack:U123` are different users.
 */
export interface Invocation {
  platform: Platform;
  /** Platform-qualified user id, e.g. `discord:80351110224678912`. */
  userId: string;
  /** Display name for status lists (never used for access decisions). */
  userName?: string;
  /** Admins may cancel others' jobs, see /hearth status, and are not held to queue caps. */
  admin: boolean;
  /** Fair-share weight from the user's roles (1 by default). */
  weight: number;
  /** The conversation this message belongs to (thread, DM, browser session), platform-qualified. */
  conversationId?: string;
  /** Platform channel id, for per-channel system prompts. */
  channelId?: string;
  /** The platform's workspace (Slack team, Discord guild): workspace knowledge never crosses it. */
  workspaceId?: string;
  /** Where to answer; stored with the job so the answer finds its way after a restart. */
  origin: Json;
}
