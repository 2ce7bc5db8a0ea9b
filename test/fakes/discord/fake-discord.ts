/**
 * A fake Discord on 127.0.0.1: REST (`/api/v10/...`) and the gateway on one port, for the real
 * discord.js client. It keeps what the bot did (messages with every edit's time, interaction
 * acknowledgements, threads, uploads) and lets a test act as users: slash commands, button presses,
 * autocomplete, messages. It models the Discord rules hearth must respect: the 3-second acknowledgement,
 * the 15-minute token, 2000-character messages, the first follow-up of a deferred reply.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { discordId, discordToken } from '../../helpers/tokens.js';
import { FakeGateway } from './fake-gateway.js';
import { FakeRestState } from './fake-rest.js';
import { DiscordHistory } from './history.js';
import { ChannelTypes, EPHEMERAL, Intents, Snowflakes, type FakeAttachment, type FakeChannel, type FakeInteraction, type FakeMessage, type FakeUser } from './model.js';

export * from './model.js';

export interface FakeDiscordOptions {
  token?: string;
  ackDeadlineMs?: number;
  tokenLifetimeMs?: number;
}

export interface Who {
  user?: FakeUser;
  channel?: FakeChannel;
  roles?: string[];
  /** When the interaction was created (its id's timestamp); default now. */
  at?: number;
}

export type OptionValue = string | number | boolean | FakeAttachment;

type Def = { name: string; type?: number; options?: Def[] };

const OPTION = { Subcommand: 1, SubcommandGroup: 2, String: 3, Integer: 4, Boolean: 5, Number: 10, Attachment: 11 } as const;

export class FakeDiscord {
  readonly state: FakeRestState;
  readonly gateway: FakeGateway;
  readonly bot: FakeUser;
  readonly applicationId: string;
  readonly token: string;
  readonly guildId: string;
  /** The server's #general. */
  readonly channel: FakeChannel;
  /** The guild's roles, members, permissions and seeded histories (workspace knowledge). */
  readonly history: DiscordHistory;
  readonly #server: Server;
  readonly #ids: Snowflakes;
  #closed: Promise<void> | undefined;

  private constructor(server: Server, opts: FakeDiscordOptions) {
    this.#server = server;
    this.#ids = new Snowflakes();
    this.applicationId = this.#ids.next();
    // A token in Discord's real shape, of an id starting with 8 (so "O…", the shape log scrubbing once missed).
    this.token = opts.token ?? discordToken(discordId('8'));
    this.bot = { id: this.applicationId, username: 'hearth', global_name: null, discriminator: '0', avatar: null, bot: true };
    this.state = new FakeRestState(this.bot, this.applicationId, this.token, {
      ackDeadlineMs: opts.ackDeadlineMs ?? 3000,
      tokenLifetimeMs: opts.tokenLifetimeMs ?? 15 * 60_000,
    });
    this.guildId = this.#ids.next();
    this.channel = this.addChannel({ id: this.#ids.next(), type: ChannelTypes.GuildText, guild_id: this.guildId, name: 'general' });
    this.gateway = new FakeGateway(server, {
      token: this.token,
      ready: () => ({
        v: 10,
        user: this.bot,
        guilds: [],
        session_id: 'fake-session',
        resume_gateway_url: this.state.baseUrl.replace(/^http/, 'ws'),
        shard: [0, 1],
        application: { id: this.applicationId, flags: 0 },
      }),
    });
    this.state.onMessageCreated = (m, intent) => this.#dispatchMessage(m, intent);
    const owner: FakeUser = { id: this.#ids.next(), username: 'owner', global_name: 'Owner', discriminator: '0', avatar: null };
    this.state.users.set(owner.id, owner);
    this.history = new DiscordHistory(this.state, this.gateway, this.guildId, owner);
  }

  static async start(opts: FakeDiscordOptions = {}): Promise<FakeDiscord> {
    const server = createServer();
    const fake = new FakeDiscord(server, opts);
    server.on('request', (req, res) => void fake.state.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    fake.state.baseUrl = `http://127.0.0.1:${port}`;
    return fake;
  }

  /** What `discord.apiBaseUrl` is set to. */
  get apiBaseUrl(): string {
    return `${this.state.baseUrl}/api`;
  }

  user(name: string): FakeUser {
    const u: FakeUser = { id: this.#ids.next(), username: name, global_name: name, discriminator: '0', avatar: null };
    this.state.users.set(u.id, u);
    return u;
  }

  addChannel(c: FakeChannel): FakeChannel {
    this.state.channels.set(c.id, c);
    return c;
  }

  textChannel(name: string): FakeChannel {
    return this.addChannel({ id: this.#ids.next(), type: ChannelTypes.GuildText, guild_id: this.guildId, name });
  }

  dm(user: FakeUser): FakeChannel {
    return this.state.dmWith(user.id);
  }

  upload(filename: string, bytes: Uint8Array, contentType: string): FakeAttachment {
    return this.state.addAttachment(filename, bytes, contentType);
  }

  /** The commands the bot registered (global, or for a guild id). */
  commands(scope = 'global'): Def[] {
    return (this.state.commands.get(scope) ?? []) as unknown as Def[];
  }

  /** A user runs a slash command (`'hearth status'` for a subcommand); options are typed from the registered definition. */
  slash(command: string, options: Record<string, OptionValue> = {}, who: Who = {}): FakeInteraction {
    // `'hearth knowledge drop'`: a subcommand in a group.
    const [name, group, inner] = command.split(' ') as [string, string | undefined, string | undefined];
    const sub = inner ?? group;
    const def = [...this.state.commands.values()].flat().find((c) => c.name === name) as Def | undefined;
    if (!def) throw new Error(`/${name} was not registered; registered: ${[...this.state.commands.values()].flat().map((c) => c.name).join(', ')}`);
    const resolved: { attachments: Record<string, unknown> } = { attachments: {} };
    const parent = inner ? def.options?.find((o) => o.name === group) : def;
    const optionDefs = sub ? (parent?.options?.find((o) => o.name === sub)?.options ?? []) : (def.options ?? []);
    const list = Object.entries(options).map(([key, value]) => {
      const d = optionDefs.find((o) => o.name === key);
      if (!d) throw new Error(`/${command} has no option "${key}"`);
      if (d.type === OPTION.Attachment) {
        const a = value as FakeAttachment;
        resolved.attachments[a.id] = { id: a.id, filename: a.filename, size: a.size, url: a.url, proxy_url: a.url, content_type: a.content_type };
        return { name: key, type: d.type, value: a.id };
      }
      return { name: key, type: d.type, value };
    });
    const subOpts = sub ? [{ name: sub, type: OPTION.Subcommand, options: list }] : list;
    const opts = inner ? [{ name: group, type: OPTION.SubcommandGroup, options: subOpts }] : subOpts;
    return this.#interact(2, { id: this.#ids.next(), name, type: 1, options: opts, resolved }, name, who);
  }

  /** A user presses a button on a message. */
  click(message: FakeMessage, customId: string, who: Who = {}): FakeInteraction {
    const channel = this.state.channels.get(message.channelId);
    const it = this.#interact(3, { custom_id: customId, component_type: 2 }, customId, { ...who, ...(channel ? { channel } : {}) }, message);
    it.customId = customId;
    return it;
  }

  /** A user types in an autocompleted option. */
  autocomplete(command: string, option: string, value: string, who: Who = {}): FakeInteraction {
    const data = { id: this.#ids.next(), name: command, type: 1, options: [{ name: option, type: OPTION.String, value, focused: true }] };
    return this.#interact(4, data, command, who);
  }

  /** A user posts a message (mentioning the bot first when `mention`). */
  say(channel: FakeChannel, user: FakeUser, text: string, opts: { mention?: boolean; attachments?: FakeAttachment[]; roles?: string[] } = {}): FakeMessage {
    const content = opts.mention ? `<@${this.bot.id}> ${text}` : text;
    const m = this.state.newMessage(channel.id, user.id, 'user', { content, mentionsBot: opts.mention === true, attachments: opts.attachments ?? [] });
    m.history.push(content);
    this.#dispatchMessage(m, channel.guild_id ? Intents.GuildMessages : Intents.DirectMessages, opts.roles ?? []);
    return m;
  }

  /**
   * Makes the next `times` requests matching `route` (a path after /api/v10, e.g. /^\/webhooks\//)
   * answer 429 as Discord does: `retry_after` in the JSON body, `Retry-After` and `X-RateLimit-*`
   * headers (or `X-RateLimit-Global` when `global`). Requests answered so are in `state.rateLimited`.
   */
  rateLimit(route: RegExp, opts: { method?: string; times?: number; retryAfterSeconds?: number; global?: boolean } = {}): void {
    this.state.rateLimits.push({ method: opts.method, route, times: opts.times ?? 1, retryAfterSeconds: opts.retryAfterSeconds ?? 0.25, global: opts.global ?? false });
  }

  /**
   * The next `method` request whose path (after /api/v10) matches `route` is carried out (a
   * follow-up POST to /webhooks/{app}/{token}: the message exists in Discord, and in the channel's
   * history), but its reply is held until `release()`: the window in which the app that asked does
   * not know yet what Discord made, as when its process dies before the reply arrives. `held()` turns
   * true once such a request came in.
   */
  holdReply(method: string, route: RegExp): { held(): boolean; release(): void } {
    const h = { method, route, held: false, released: false, waiting: [] as Array<() => void> };
    this.state.replyHolds.push(h);
    return {
      held: () => h.held,
      release: () => {
        h.released = true;
        for (const w of h.waiting.splice(0)) w();
      },
    };
  }

  /** Makes an interaction's token stop working, as 15 minutes would. */
  expireToken(it: FakeInteraction): void {
    it.expired = true;
  }

  original(it: FakeInteraction): FakeMessage | undefined {
    return it.originalId ? this.state.messages.get(it.originalId) : undefined;
  }

  followups(it: FakeInteraction): FakeMessage[] {
    return it.followupIds.map((id) => this.state.messages.get(id)!);
  }

  /** Messages in a channel, oldest first (deleted ones included, flagged). */
  messagesIn(channelId: string): FakeMessage[] {
    return [...this.state.messages.values()].filter((m) => m.channelId === channelId).sort((a, b) => a.createdAt - b.createdAt || cmpId(a.id, b.id));
  }

  /** The ephemeral messages an interaction produced (its reply if ephemeral, and ephemeral follow-ups). */
  ephemeralOf(it: FakeInteraction): FakeMessage[] {
    return [this.original(it), ...this.followups(it)].filter((m): m is FakeMessage => !!m && !m.deleted && (m.flags & EPHEMERAL) !== 0);
  }

  /** Polls until `fn` returns something truthy. */
  async waitFor<T>(fn: () => T | undefined | null | false, what: string, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = fn();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      for (const h of this.state.replyHolds) for (const w of h.waiting.splice(0)) w();
      await this.gateway.close();
      this.#server.closeAllConnections();
      await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    })();
    return this.#closed;
  }

  #interact(type: number, data: Record<string, unknown>, name: string, who: Who, message?: FakeMessage): FakeInteraction {
    const user = who.user ?? this.user('someone');
    const channel = who.channel ?? this.channel;
    const inGuild = channel.guild_id !== undefined;
    const id = this.#ids.next(who.at ?? Date.now());
    // Discord's interaction tokens: base64 of `interaction:<id>:<random>`, a credential for 15 minutes.
    const token = Buffer.from(`interaction:${id}:${randomBytes(96).toString('base64url')}`).toString('base64url');
    const it: FakeInteraction = {
      id, token, type, name, userId: user.id, channelId: channel.id, guildId: channel.guild_id ?? null,
      dispatchedAt: Date.now(), callbacks: [], followupIds: [], expired: false,
      ...(message ? { messageId: message.id } : {}),
    };
    this.state.interactions.set(id, it);
    this.state.byToken.set(token, it);
    const payload: Record<string, unknown> = {
      id,
      application_id: this.applicationId,
      type,
      token,
      version: 1,
      data,
      channel: { ...channel },
      channel_id: channel.id,
      locale: 'en-US',
      app_permissions: '0',
      entitlements: [],
      authorizing_integration_owners: inGuild ? { 0: channel.guild_id } : { 1: user.id },
      context: inGuild ? 0 : 1,
      attachment_size_limit: 10 * 1024 * 1024,
      ...(inGuild
        ? { guild_id: channel.guild_id, guild_locale: 'en-US', member: this.#member(user, who.roles ?? []) }
        : { user }),
      ...(message ? { message: this.state.messageJson(message) } : {}),
    };
    this.gateway.dispatch('INTERACTION_CREATE', payload);
    return it;
  }

  #member(user: FakeUser, roles: string[]): Record<string, unknown> {
    return { user, roles, permissions: '0', joined_at: new Date(0).toISOString(), deaf: false, mute: false, flags: 0, nick: null, avatar: null, premium_since: null, pending: false };
  }

  #dispatchMessage(m: FakeMessage, intent: number, roles: string[] = []): void {
    const channel = this.state.channels.get(m.channelId);
    const author = this.state.users.get(m.authorId)!;
    const json = this.state.messageJson(m);
    // Without the MessageContent intent Discord leaves out the text of messages that neither mention the bot nor are DMs.
    const hidden = channel?.guild_id !== undefined && !m.mentionsBot && m.authorId !== this.bot.id && (this.gateway.intents() & Intents.MessageContent) === 0;
    const d = {
      ...json,
      ...(hidden ? { content: '', attachments: [], embeds: [] } : {}),
      ...(channel?.guild_id ? { guild_id: channel.guild_id, member: { ...this.#member(author, roles), user: undefined } } : {}),
    };
    this.gateway.dispatch('MESSAGE_CREATE', d, intent);
  }
}

function cmpId(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
