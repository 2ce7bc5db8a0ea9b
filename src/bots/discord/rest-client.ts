import {
  MessageFlags,
  Routes,
  type APIActionRowComponent,
  type APIChannel,
  type APIComponentInMessageActionRow,
  type APIInteractionResponse,
  type APIMessage,
  type APIUser,
  type RawFile,
  type REST,
  type RESTPutAPIApplicationCommandsJSONBody,
} from 'discord.js';

/** A message as hearth sends it; turned into Discord's JSON (and multipart files) here only. */
export interface OutMessage {
  content: string;
  /** Rows of buttons; `[]` removes the ones the message had. Absent: left as they are. */
  components?: APIActionRowComponent<APIComponentInMessageActionRow>[];
  /** Files to attach; they replace the attachments the message had. */
  files?: Array<{ name: string; data: Uint8Array; description?: string }>;
  /** Removes the message's attachments (when no files are given). */
  clearAttachments?: boolean;
  /** Only at creation: seen only by the user (interaction replies and follow-ups). */
  ephemeral?: boolean;
  /** Users this message may ping (none by default: hearth never pings by accident). */
  mentionUsers?: string[];
  /** Only at creation, channel messages: the message this one replies to. */
  replyTo?: string;
}

function body(m: OutMessage, creating: boolean): Record<string, unknown> {
  const b: Record<string, unknown> = {
    content: m.content,
    allowed_mentions: { parse: [], users: m.mentionUsers ?? [], replied_user: false },
  };
  if (m.components) b.components = m.components;
  if (m.files) b.attachments = m.files.map((f, i) => ({ id: i, filename: f.name, ...(f.description ? { description: f.description } : {}) }));
  else if (m.clearAttachments) b.attachments = [];
  if (creating && m.ephemeral) b.flags = MessageFlags.Ephemeral;
  if (creating && m.replyTo) b.message_reference = { message_id: m.replyTo, fail_if_not_exists: false };
  return b;
}

function files(m: OutMessage): RawFile[] | undefined {
  return m.files?.map((f) => ({ name: f.name, data: Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength), contentType: 'image/png' }));
}

function request(m: OutMessage, creating: boolean, extra: { auth?: boolean; query?: URLSearchParams; signal: AbortSignal }) {
  const f = files(m);
  return { body: body(m, creating), ...(f ? { files: f } : {}), ...extra };
}

/**
 * The Discord REST calls hearth makes, on discord.js's REST client (its rate-limit buckets and retries;
 * the base URL is `discord.apiBaseUrl`). Interaction and webhook routes go without the bot token, as
 * Discord expects.
 */
export class DiscordRest {
  readonly #rest: REST;
  readonly #app: string;
  readonly #shutdown: AbortSignal;
  #me: Promise<string> | undefined;

  /** `signal` aborts every request still queued or on its way (the adapter's shutdown). */
  constructor(rest: REST, applicationId: string, signal: AbortSignal) {
    this.#rest = rest;
    this.#app = applicationId;
    this.#shutdown = signal;
  }

  /**
   * A signal per request, following the shutdown signal. @discordjs/rest adds an abort listener to the
   * signal of every request and never removes it: on the one long-lived shutdown signal that would
   * grow for the bot's whole life. A dependent signal (held weakly by its source) goes with its request.
   */
  get #signal(): AbortSignal {
    return AbortSignal.any([this.#shutdown]);
  }

  async respond(interactionId: string, token: string, response: APIInteractionResponse): Promise<void> {
    await this.#rest.post(Routes.interactionCallback(interactionId, token), { body: response, auth: false, signal: this.#signal });
  }

  async getOriginal(token: string): Promise<APIMessage> {
    return (await this.#rest.get(Routes.webhookMessage(this.#app, token, '@original'), { auth: false, signal: this.#signal })) as APIMessage;
  }

  async editOriginal(token: string, m: OutMessage): Promise<APIMessage> {
    return (await this.#rest.patch(Routes.webhookMessage(this.#app, token, '@original'), request(m, false, { auth: false, signal: this.#signal }))) as APIMessage;
  }

  async deleteOriginal(token: string): Promise<void> {
    await this.#rest.delete(Routes.webhookMessage(this.#app, token, '@original'), { auth: false, signal: this.#signal });
  }

  async followup(token: string, m: OutMessage): Promise<APIMessage> {
    return (await this.#rest.post(Routes.webhook(this.#app, token), request(m, true, { auth: false, query: new URLSearchParams({ wait: 'true' }), signal: this.#signal }))) as APIMessage;
  }

  async editFollowup(token: string, messageId: string, m: OutMessage): Promise<APIMessage> {
    return (await this.#rest.patch(Routes.webhookMessage(this.#app, token, messageId), request(m, false, { auth: false, signal: this.#signal }))) as APIMessage;
  }

  async deleteFollowup(token: string, messageId: string): Promise<void> {
    await this.#rest.delete(Routes.webhookMessage(this.#app, token, messageId), { auth: false, signal: this.#signal });
  }

  async send(channelId: string, m: OutMessage): Promise<APIMessage> {
    return (await this.#rest.post(Routes.channelMessages(channelId), request(m, true, { signal: this.#signal }))) as APIMessage;
  }

  async edit(channelId: string, messageId: string, m: OutMessage): Promise<APIMessage> {
    return (await this.#rest.patch(Routes.channelMessage(channelId, messageId), request(m, false, { signal: this.#signal }))) as APIMessage;
  }

  async deleteMessage(channelId: string, messageId: string): Promise<void> {
    await this.#rest.delete(Routes.channelMessage(channelId, messageId), { signal: this.#signal });
  }

  /** Up to `limit` (1–100) messages of a channel newer than `after`, as Discord lists them (newest first). */
  async messagesAfter(channelId: string, after: string, limit: number): Promise<APIMessage[]> {
    const query = new URLSearchParams({ after, limit: String(limit) });
    return (await this.#rest.get(Routes.channelMessages(channelId), { query, signal: this.#signal })) as APIMessage[];
  }

  /** The bot's own user id (asked once; asked again after a failure). */
  botUserId(): Promise<string> {
    this.#me ??= (this.#rest.get(Routes.user(), { signal: this.#signal }) as Promise<APIUser>).then(
      (u) => u.id,
      (e: unknown) => {
        this.#me = undefined;
        throw e;
      },
    );
    return this.#me;
  }

  async channel(channelId: string): Promise<APIChannel> {
    return (await this.#rest.get(Routes.channel(channelId), { signal: this.#signal })) as APIChannel;
  }

  /** A public thread on a message; Discord gives the thread the message's id. */
  async threadFromMessage(channelId: string, messageId: string, name: string): Promise<APIChannel> {
    return (await this.#rest.post(Routes.threads(channelId, messageId), { body: { name, auto_archive_duration: 1440 }, signal: this.#signal })) as APIChannel;
  }

  async openDm(userId: string): Promise<APIChannel> {
    return (await this.#rest.post(Routes.userChannels(), { body: { recipient_id: userId }, signal: this.#signal })) as APIChannel;
  }

  async putCommands(commands: RESTPutAPIApplicationCommandsJSONBody, guildId?: string): Promise<void> {
    const route = guildId ? Routes.applicationGuildCommands(this.#app, guildId) : Routes.applicationCommands(this.#app);
    await this.#rest.put(route, { body: commands, signal: this.#signal });
  }
}
