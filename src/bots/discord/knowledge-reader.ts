/**
 * The Discord REST reads of workspace knowledge ({@link DiscordReader}) on discord.js's REST client:
 * its per-route buckets, and 429s waited out as Discord's Retry-After says. Everything is sent to
 * `discord.apiBaseUrl`.
 */
import { DiscordAPIError, RESTJSONErrorCodes, Routes, type REST } from 'discord.js';
import type {
  DiscordChannelJson,
  DiscordGuildAccess,
  DiscordMessageJson,
  DiscordPage,
  DiscordReader,
  DiscordRoleJson,
} from '../../knowledge/discord-messages.js';

interface ThreadList {
  threads?: Array<DiscordChannelJson & { thread_metadata?: { archive_timestamp?: string } }>;
  has_more?: boolean;
}

export class DiscordKnowledgeReader implements DiscordReader {
  readonly #rest: REST;
  readonly #shutdown: AbortSignal;

  /** `shutdown` aborts every request still on its way (the adapter's close). */
  constructor(rest: REST, shutdown: AbortSignal) {
    this.#rest = rest;
    this.#shutdown = shutdown;
  }

  // One dependent signal per request (see DiscordRest: discord.js never removes its abort listeners).
  #signal(signal?: AbortSignal): AbortSignal {
    return AbortSignal.any([this.#shutdown, ...(signal ? [signal] : [])]);
  }

  async channel(id: string, signal?: AbortSignal): Promise<DiscordChannelJson> {
    return (await this.#rest.get(Routes.channel(id), { signal: this.#signal(signal) })) as DiscordChannelJson;
  }

  async messages(channel: string, page: DiscordPage, signal?: AbortSignal): Promise<DiscordMessageJson[]> {
    const query = new URLSearchParams({ limit: String(page.limit) });
    if (page.before) query.set('before', page.before);
    if (page.after) query.set('after', page.after);
    return (await this.#rest.get(Routes.channelMessages(channel), { query, signal: this.#signal(signal) })) as DiscordMessageJson[];
  }

  async activeThreads(guild: string, signal?: AbortSignal): Promise<DiscordChannelJson[]> {
    const list = (await this.#rest.get(Routes.guildActiveThreads(guild), { signal: this.#signal(signal) })) as ThreadList;
    return list.threads ?? [];
  }

  async archivedThreads(channel: string, before: string | undefined, signal?: AbortSignal): Promise<{ threads: Array<DiscordChannelJson & { archivedAt?: string }>; hasMore: boolean }> {
    const query = new URLSearchParams({ limit: '100', ...(before ? { before } : {}) });
    const list = (await this.#rest.get(Routes.channelThreads(channel, 'public'), { query, signal: this.#signal(signal) })) as ThreadList;
    const threads = (list.threads ?? []).map((t) => {
      const at = t.thread_metadata?.archive_timestamp;
      return at ? { ...t, archivedAt: at } : t;
    });
    return { threads, hasMore: list.has_more === true };
  }

  async guild(guild: string, signal?: AbortSignal): Promise<DiscordGuildAccess> {
    const g = (await this.#rest.get(Routes.guild(guild), { signal: this.#signal(signal) })) as { owner_id: string; roles?: DiscordRoleJson[] };
    return { ownerId: g.owner_id, roles: (g.roles ?? []).map((r) => ({ id: r.id, permissions: r.permissions })) };
  }

  async member(guild: string, user: string, signal?: AbortSignal): Promise<{ roles: string[] } | undefined> {
    try {
      const m = (await this.#rest.get(Routes.guildMember(guild, user), { signal: this.#signal(signal) })) as { roles?: string[] };
      return { roles: m.roles ?? [] };
    } catch (e) {
      if (e instanceof DiscordAPIError && e.code === RESTJSONErrorCodes.UnknownMember) return undefined;
      throw e;
    }
  }
}
