import { ChannelType } from 'discord.js';
import { isThreadType } from './raw.js';
import type { DiscordRest } from './rest-client.js';

interface ThreadInfo {
  hearth: boolean;
  parentId: string | null;
}

const MAX_REMEMBERED = 5000;

/**
 * Which threads are hearth's: the ones it opened (it owns them, which Discord still says after a
 * restart) and the ones someone used /ask in. Mentions of the bot continue the conversation only there.
 */
export class HearthThreads {
  readonly #rest: () => DiscordRest;
  readonly #botUserId: () => string;
  readonly #known = new Map<string, ThreadInfo>();

  constructor(rest: () => DiscordRest, botUserId: () => string) {
    this.#rest = rest;
    this.#botUserId = botUserId;
  }

  add(threadId: string, parentId: string | null): void {
    this.#remember(threadId, { hearth: true, parentId });
  }

  /** The thread's parent channel if it is a hearth thread, else null. */
  async lookup(channelId: string): Promise<{ parentId: string | null } | null> {
    let info = this.#known.get(channelId);
    if (!info) {
      const ch = await this.#rest().channel(channelId);
      const thread = isThreadType(ch.type) && ch.type !== ChannelType.AnnouncementThread;
      const owner = 'owner_id' in ch ? ch.owner_id : undefined;
      const parent = 'parent_id' in ch && typeof ch.parent_id === 'string' ? ch.parent_id : null;
      info = { hearth: thread && owner === this.#botUserId(), parentId: parent };
      this.#remember(channelId, info);
    }
    return info.hearth ? { parentId: info.parentId } : null;
  }

  #remember(id: string, info: ThreadInfo): void {
    this.#known.delete(id);
    this.#known.set(id, info);
    if (this.#known.size > MAX_REMEMBERED) {
      const oldest = this.#known.keys().next().value;
      if (oldest !== undefined) this.#known.delete(oldest);
    }
  }
}
