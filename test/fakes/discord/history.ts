/**
 * The fake Discord's readable guild: roles with permissions, members with roles, channel permission
 * overwrites, threads (active and archived), and seeded message histories served as Discord serves
 * them: GET /channels/{id}/messages (newest first; `before`, `after`, `limit` 1–100, default 50; 403
 * Missing Access without View Channel, an empty list without Read Message History), the guild's
 * active threads, a channel's archived public threads, GET /guilds/{id} (owner and roles) and
 * GET /guilds/{id}/members/{user} (404 Unknown Member for someone not in it). Also the gateway events
 * for edits and deletions (MESSAGE_UPDATE, MESSAGE_DELETE), with content only for sessions that
 * have the Message Content intent.
 */
import { ApiError, type ExtraRoute, type FakeRestState } from './fake-rest.js';
import type { FakeGateway } from './fake-gateway.js';
import { ChannelTypes, EPHEMERAL, Intents, type FakeChannel, type FakeMessage, type FakeUser } from './model.js';

export const Perm = {
  Administrator: 1n << 3n,
  ViewChannel: 1n << 10n,
  SendMessages: 1n << 11n,
  ReadMessageHistory: 1n << 16n,
} as const;

/** What @everyone may do in a fresh guild (the parts that matter here). */
export const EVERYONE_DEFAULT = Perm.ViewChannel | Perm.SendMessages | Perm.ReadMessageHistory;

interface Hold {
  after: number;
  calls: number;
  waiting: Array<() => void>;
  released: boolean;
}

export class DiscordHistory implements ExtraRoute {
  readonly roles = new Map<string, { id: string; name: string; permissions: bigint }>();
  readonly members = new Map<string, string[]>();
  ownerId: string;
  /** Every GET of channel messages, in order, with its query (for assertions). */
  readonly reads: Array<{ channel: string; before?: string; after?: string; limit: number; at: number }> = [];
  readonly #state: FakeRestState;
  readonly #gateway: FakeGateway;
  readonly #guildId: string;
  readonly #holds: Hold[] = [];
  #clock = Date.now() - 30 * 86_400_000;

  constructor(state: FakeRestState, gateway: FakeGateway, guildId: string, owner: FakeUser) {
    this.#state = state;
    this.#gateway = gateway;
    this.#guildId = guildId;
    this.ownerId = owner.id;
    this.roles.set(guildId, { id: guildId, name: '@everyone', permissions: EVERYONE_DEFAULT });
    this.members.set(state.bot.id, []);
    state.extraRoutes.push(this);
  }

  addRole(name: string, permissions = 0n): string {
    const id = this.#state.ids.next();
    this.roles.set(id, { id, name, permissions });
    return id;
  }

  /** Makes a user a member of the guild (with roles); a user who is not a member reads nothing. */
  join(user: FakeUser, roles: string[] = []): void {
    this.members.set(user.id, roles);
  }

  /** Sets a channel's overwrite for a role (or @everyone: the guild's id) or a member. */
  overwrite(channel: FakeChannel, id: string, type: 'role' | 'member', rights: { allow?: bigint; deny?: bigint }): void {
    const list = (channel.permission_overwrites ??= []).filter((o) => o.id !== id);
    list.push({ id, type: type === 'role' ? 0 : 1, allow: String(rights.allow ?? 0n), deny: String(rights.deny ?? 0n) });
    channel.permission_overwrites = list;
  }

  /** A message someone wrote (an hour after the previous seeded one), not dispatched: it is history. */
  seed(channel: FakeChannel, user: FakeUser, content: string): FakeMessage {
    this.#clock += 3_600_000;
    const m = this.#state.newMessage(channel.id, user.id, 'user', { id: this.#state.ids.next(this.#clock), content, createdAt: this.#clock });
    m.history.push(content);
    return m;
  }

  /** A public thread started from `from` (it takes the message's id), archived or active. */
  thread(parent: FakeChannel, from: FakeMessage, name: string, opts: { archived?: boolean; private?: boolean } = {}): FakeChannel {
    const t: FakeChannel = {
      id: from.id,
      type: opts.private ? ChannelTypes.PrivateThread : ChannelTypes.PublicThread,
      guild_id: this.#guildId,
      parent_id: parent.id,
      name,
      thread_metadata: { archived: opts.archived ?? false, archive_timestamp: new Date(this.#clock).toISOString(), auto_archive_duration: 1440, locked: false },
    };
    this.#state.channels.set(t.id, t);
    return t;
  }

  /** Someone edits a message: the gateway sends MESSAGE_UPDATE. */
  edit(m: FakeMessage, content: string): void {
    m.content = content;
    m.history.push(content);
    m.edits.push(Date.now());
    const channel = this.#state.channels.get(m.channelId);
    const full = this.#gateway.intents() & Intents.MessageContent;
    const d = { ...this.#state.messageJson(m), ...(full ? {} : { content: '', embeds: [], attachments: [] }), guild_id: channel?.guild_id };
    this.#gateway.dispatch('MESSAGE_UPDATE', d, Intents.GuildMessages);
  }

  /** Someone deletes a message: the gateway sends MESSAGE_DELETE. */
  remove(m: FakeMessage): void {
    m.deleted = true;
    const channel = this.#state.channels.get(m.channelId);
    this.#gateway.dispatch('MESSAGE_DELETE', { id: m.id, channel_id: m.channelId, guild_id: channel?.guild_id }, Intents.GuildMessages);
  }

  /** From its `after`-th call on (0: at once), reading messages answers nothing until the returned function is called. */
  hold(after: number): () => void {
    const h: Hold = { after, calls: 0, waiting: [], released: false };
    this.#holds.push(h);
    return () => {
      h.released = true;
      for (const w of h.waiting.splice(0)) w();
    };
  }

  /** The permissions of a member in a channel, as Discord computes them (a thread: its parent's). */
  permissions(userId: string, channelId: string): bigint {
    let channel = this.#state.channels.get(channelId);
    if (channel?.parent_id && (channel.type === ChannelTypes.PublicThread || channel.type === ChannelTypes.PrivateThread)) channel = this.#state.channels.get(channel.parent_id);
    const roles = this.members.get(userId);
    if (!channel || roles === undefined) return 0n;
    if (userId === this.ownerId) return ~0n;
    let p = this.roles.get(this.#guildId)?.permissions ?? 0n;
    for (const r of roles) p |= this.roles.get(r)?.permissions ?? 0n;
    if (p & Perm.Administrator) return ~0n;
    const ow = channel.permission_overwrites ?? [];
    const apply = (allow: bigint, deny: bigint) => {
      p = (p & ~deny) | allow;
    };
    const everyone = ow.find((o) => o.id === this.#guildId);
    if (everyone) apply(BigInt(everyone.allow), BigInt(everyone.deny));
    const mine = ow.filter((o) => o.type === 0 && roles.includes(o.id));
    apply(mine.reduce((a, o) => a | BigInt(o.allow), 0n), mine.reduce((a, o) => a | BigInt(o.deny), 0n));
    const own = ow.find((o) => o.type === 1 && o.id === userId);
    if (own) apply(BigInt(own.allow), BigInt(own.deny));
    return p;
  }

  matches(method: string, route: string): boolean {
    return method === 'GET' && /^\/(channels\/\d+\/messages|guilds\/\d+(\/threads\/active|\/members\/\d+)?|channels\/\d+\/threads\/archived\/public)$/.test(route);
  }

  async handle(_method: string, route: string, q: URLSearchParams): Promise<unknown> {
    let m: RegExpExecArray | null;
    if ((m = /^\/channels\/(\d+)\/messages$/.exec(route))) return this.#messages(m[1]!, q);
    if ((m = /^\/channels\/(\d+)\/threads\/archived\/public$/.exec(route))) return this.#archived(m[1]!, q);
    if ((m = /^\/guilds\/(\d+)\/threads\/active$/.exec(route))) {
      this.#guild(m[1]!);
      const threads = [...this.#state.channels.values()].filter((c) => c.guild_id === this.#guildId && c.parent_id && c.thread_metadata && !c.thread_metadata.archived);
      return { threads: threads.filter((t) => this.#sees(t.id)), members: [] };
    }
    if ((m = /^\/guilds\/(\d+)\/members\/(\d+)$/.exec(route))) {
      this.#guild(m[1]!);
      const roles = this.members.get(m[2]!);
      const user = this.#state.users.get(m[2]!);
      if (roles === undefined || !user) throw new ApiError(404, 10007, 'Unknown Member');
      return { user, roles, nick: null, joined_at: new Date(0).toISOString(), deaf: false, mute: false, flags: 0 };
    }
    if ((m = /^\/guilds\/(\d+)$/.exec(route))) {
      this.#guild(m[1]!);
      const roles = [...this.roles.values()].map((r) => ({ id: r.id, name: r.name, permissions: String(r.permissions), position: 0, managed: false, mentionable: false, hoist: false, color: 0 }));
      return { id: this.#guildId, name: 'fake guild', owner_id: this.ownerId, roles };
    }
    throw new ApiError(404, 0, '404: Not Found');
  }

  #guild(id: string): void {
    if (id !== this.#guildId) throw new ApiError(404, 10004, 'Unknown Guild');
  }

  #sees(channel: string): boolean {
    return (this.permissions(this.#state.bot.id, channel) & Perm.ViewChannel) !== 0n;
  }

  async #messages(channelId: string, q: URLSearchParams): Promise<unknown> {
    const channel = this.#state.channels.get(channelId);
    if (!channel) throw new ApiError(404, 10003, 'Unknown Channel');
    const limit = q.has('limit') ? Number(q.get('limit')) : 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new ApiError(400, 50035, 'Invalid Form Body: limit must be 1-100');
    const before = q.get('before') ?? undefined;
    const after = q.get('after') ?? undefined;
    this.reads.push({ channel: channelId, limit, at: Date.now(), ...(before ? { before } : {}), ...(after ? { after } : {}) });
    for (const h of this.#holds) {
      if (h.released) continue;
      h.calls++;
      if (h.calls > h.after) await new Promise<void>((resolve) => h.waiting.push(resolve));
    }
    const perms = this.permissions(this.#state.bot.id, channelId);
    if ((perms & Perm.ViewChannel) === 0n) throw new ApiError(403, 50001, 'Missing Access');
    // Without Read Message History Discord answers with no messages, not an error.
    if ((perms & Perm.ReadMessageHistory) === 0n) return [];
    // Ephemeral messages belong to one user's client only: Discord lists them in no channel's history.
    const all = [...this.#state.messages.values()].filter((x) => x.channelId === channelId && !x.deleted && (x.flags & EPHEMERAL) === 0).sort((a, b) => cmp(a.id, b.id));
    let page: FakeMessage[];
    if (after !== undefined) page = all.filter((x) => cmp(x.id, after) > 0).slice(0, limit);
    else page = all.filter((x) => before === undefined || cmp(x.id, before) < 0).slice(-limit);
    return page.reverse().map((x) => this.#state.messageJson(x));
  }

  #archived(channelId: string, q: URLSearchParams): unknown {
    const channel = this.#state.channels.get(channelId);
    if (!channel) throw new ApiError(404, 10003, 'Unknown Channel');
    if ((this.permissions(this.#state.bot.id, channelId) & Perm.ReadMessageHistory) === 0n) throw new ApiError(403, 50001, 'Missing Access');
    const before = q.get('before');
    const limit = Number(q.get('limit') ?? 50);
    const all = [...this.#state.channels.values()]
      .filter((c) => c.parent_id === channelId && c.type === ChannelTypes.PublicThread && c.thread_metadata?.archived)
      .filter((c) => before === null || c.thread_metadata!.archive_timestamp < before)
      .sort((a, b) => (a.thread_metadata!.archive_timestamp < b.thread_metadata!.archive_timestamp ? 1 : -1));
    return { threads: all.slice(0, limit), members: [], has_more: all.length > limit };
  }
}

function cmp(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export { ChannelTypes };
