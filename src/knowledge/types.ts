/**
 * Workspace knowledge: messages of the channels hearth indexes (`knowledge.slackChannels`,
 * `knowledge.discordChannels`), searched for a question and given to the model with their author and
 * date; the answer lists them as sources. Types shared by the index, the platforms and the commands.
 */
import type { Invocation } from '../commands/invocation.js';
import type { ChatSource } from '../jobs/chat.js';

export type KnowledgePlatform = 'slack' | 'discord';

/** Where a message lives: platform, workspace (Slack team, Discord guild) and channel. */
export interface ChannelRef {
  platform: KnowledgePlatform;
  workspace: string;
  channel: string;
}

/** One message as the index holds it. */
export interface IndexedMessage extends ChannelRef {
  /** The platform's id of the message (Slack ts, Discord snowflake). */
  messageId: string;
  /** The thread's parent message, for a reply in a thread. */
  threadId?: string;
  /** The author's platform id. */
  author: string;
  authorName?: string;
  /** Epoch milliseconds. */
  at: number;
  text: string;
  /** A link to the message, once known (Slack permalinks are asked for and kept). */
  permalink?: string;
}

/** A message found for a question. */
export interface SearchHit extends IndexedMessage {
  /** bm25: lower is more relevant. */
  score: number;
}

/** What the index knows of one channel. */
export interface ChannelState extends ChannelRef {
  name?: string;
  private?: boolean;
  /** The backfill's next page (platform cursor); absent before the first page and once done. */
  cursor?: string;
  /** When the backfill went through the whole history. */
  backfilledAt?: number;
  /** The newest message id the history was read up to (later ones came as live events or a catch-up). */
  syncedUntil?: string;
  lastSyncAt?: number;
}

export interface ChannelStats extends ChannelState {
  messages: number;
}

export interface KnowledgeStats {
  channels: ChannelStats[];
  messages: number;
  /** The newest sync of any channel (epoch ms). */
  lastSyncAt?: number;
}

/** A message an answer used, as the answer shows it: a link and who said it when (the chat payload's `sources`). */
export type KnowledgeSource = ChatSource;

/** What the knowledge adds to a question: a context message for the model and the sources to show. */
export interface Retrieved {
  /** The found messages in words for the model (author, date, text), numbered as the sources. */
  context: string;
  sources: KnowledgeSource[];
}

/**
 * The commands' hook (`HearthCommandsOptions.knowledge`): the messages relevant to a question that the
 * asker may read, or undefined when knowledge has nothing for this invocation.
 */
export interface KnowledgeRetriever {
  retrieve(question: string, inv: Invocation, opts?: { signal?: AbortSignal }): Promise<Retrieved | undefined>;
}

/**
 * What a platform adds to retrieval: which indexed channels a person can read, and a link to a
 * message. Both are asked per question (with short caches behind them).
 */
export interface PlatformKnowledge {
  readonly platform: KnowledgePlatform;
  /** The channels of `channels` that `user` (the platform's own id) can read in `workspace`. */
  readable(workspace: string, user: string, channels: readonly string[], signal?: AbortSignal): Promise<Set<string>>;
  /** A link to the message, or undefined when there is none (the message is gone). */
  link(message: IndexedMessage, signal?: AbortSignal): Promise<string | undefined>;
}
