import type { App, types } from '@slack/bolt';

export type WebClient = App['client'];
export type Block = types.KnownBlock;

/** A message as hearth sends it: `text` is the notification and screen-reader fallback of `blocks`. */
export interface SlackMessage {
  text: string;
  blocks?: Block[];
}

/**
 * The few Web API calls hearth makes, over one bot-token client (so `slack.apiUrl` reaches them all).
 * Methods throw the client's errors; callers decide what a failure means.
 */
export class SlackApi {
  readonly client: WebClient;
  /** The newest ts Slack gave this process for a message it posted, by conversation (`channel:thread`). */
  readonly #newest = new Map<string, string>();
  #botUser: Promise<string> | undefined;

  constructor(client: WebClient) {
    this.client = client;
  }

  /** The newest message this process has posted in a thread (or at the top of a channel), if any. */
  newestPosted(channel: string, thread?: string): string | undefined {
    return this.#newest.get(`${channel}:${thread ?? ''}`);
  }

  #note(channel: string, thread: string | undefined, ts: string): void {
    const key = `${channel}:${thread ?? ''}`;
    const had = this.#newest.get(key);
    if (had === undefined || compareTs(ts, had) > 0) this.#newest.set(key, ts);
  }

  /** The bot's own user id (auth.test), asked once. */
  botUser(): Promise<string> {
    this.#botUser ??= this.client.auth.test().then((res) => {
      if (!res.user_id) throw new Error('auth.test returned no user_id');
      return res.user_id;
    });
    this.#botUser.catch(() => (this.#botUser = undefined));
    return this.#botUser;
  }

  /** Posts a message; returns its ts. */
  async post(channel: string, msg: SlackMessage, thread?: string): Promise<string> {
    const res = await this.client.chat.postMessage({
      channel,
      text: msg.text,
      ...(msg.blocks ? { blocks: msg.blocks } : {}),
      ...(thread ? { thread_ts: thread } : {}),
      unfurl_links: false,
      unfurl_media: false,
    });
    if (!res.ts) throw new Error('chat.postMessage returned no ts');
    this.#note(channel, thread, res.ts);
    return res.ts;
  }

  async update(channel: string, ts: string, msg: SlackMessage): Promise<void> {
    await this.client.chat.update({ channel, ts, text: msg.text, blocks: msg.blocks ?? [] });
  }

  async remove(channel: string, ts: string): Promise<void> {
    await this.client.chat.delete({ channel, ts });
  }

  /** A message only `user` sees. */
  async ephemeral(channel: string, user: string, text: string, thread?: string): Promise<void> {
    await this.client.chat.postEphemeral({ channel, user, text, ...(thread ? { thread_ts: thread } : {}) });
  }

  /**
   * Starts a streamed message in a thread (chat.startStream). Outside a DM, Slack needs the user and
   * team the stream is for.
   */
  async startStream(channel: string, thread: string, markdown: string, recipient?: { team: string; user: string }): Promise<string> {
    const res = await this.client.chat.startStream({
      channel,
      thread_ts: thread,
      markdown_text: markdown,
      ...(recipient ? { recipient_team_id: recipient.team, recipient_user_id: recipient.user } : {}),
    });
    if (!res.ts) throw new Error('chat.startStream returned no ts');
    this.#note(channel, thread, res.ts);
    return res.ts;
  }

  async appendStream(channel: string, ts: string, markdown: string): Promise<void> {
    await this.client.chat.appendStream({ channel, ts, markdown_text: markdown });
  }

  async stopStream(channel: string, ts: string, markdown?: string): Promise<void> {
    await this.client.chat.stopStream({ channel, ts, ...(markdown ? { markdown_text: markdown } : {}) });
  }

  // Reading the workspace (workspace knowledge) ---------------------------------------------------

  /** The workspace (team id) the bot token belongs to. */
  async team(): Promise<string> {
    const res = await this.client.auth.test();
    if (!res.team_id) throw new Error('auth.test returned no team_id');
    return res.team_id;
  }

  /** One page of a channel's messages, newest first (conversations.history); `oldest` is exclusive. */
  async history(channel: string, opts: { cursor?: string; oldest?: string; limit: number }): Promise<SlackPage> {
    const res = await this.client.conversations.history({
      channel,
      limit: opts.limit,
      ...(opts.cursor ? { cursor: opts.cursor } : {}),
      ...(opts.oldest ? { oldest: opts.oldest } : {}),
    });
    return page((res.messages ?? []) as Array<Record<string, unknown>>, res.response_metadata?.next_cursor);
  }

  /** One page of a thread: its parent first, then the replies (conversations.replies); `oldest` is exclusive. */
  async replies(channel: string, ts: string, opts: { cursor?: string; oldest?: string; limit: number }): Promise<SlackPage> {
    const res = await this.client.conversations.replies({
      channel,
      ts,
      limit: opts.limit,
      ...(opts.cursor ? { cursor: opts.cursor } : {}),
      ...(opts.oldest ? { oldest: opts.oldest } : {}),
    });
    return page((res.messages ?? []) as Array<Record<string, unknown>>, res.response_metadata?.next_cursor);
  }

  /** One page of a channel's members (conversations.members). */
  async members(channel: string, opts: { cursor?: string; limit: number }): Promise<SlackPage<string>> {
    const res = await this.client.conversations.members({ channel, limit: opts.limit, ...(opts.cursor ? { cursor: opts.cursor } : {}) });
    return page(res.members ?? [], res.response_metadata?.next_cursor);
  }

  /** A channel's name and whether it is private (conversations.info). */
  async channelInfo(channel: string): Promise<{ name?: string; private: boolean }> {
    const res = await this.client.conversations.info({ channel });
    const c = res.channel;
    return { ...(c?.name ? { name: c.name } : {}), private: c?.is_private === true };
  }

  /** A link to a message (chat.getPermalink). */
  async permalink(channel: string, ts: string): Promise<string> {
    const res = await this.client.chat.getPermalink({ channel, message_ts: ts });
    if (!res.permalink) throw new Error('chat.getPermalink returned no permalink');
    return res.permalink;
  }

  /** A person's display name (users.info), if they have one. */
  async userName(user: string): Promise<string | undefined> {
    const res = await this.client.users.info({ user });
    const u = res.user;
    return u?.profile?.display_name || u?.real_name || u?.name || undefined;
  }

  /**
   * Uploads a file into a channel or thread: files.getUploadURLExternal, the upload, then
   * files.completeUploadExternal (what `files.uploadV2` does).
   */
  async upload(args: { channel: string; thread?: string; bytes: Uint8Array; filename: string; title: string; comment: string; altText: string }): Promise<void> {
    const common = {
      file: Buffer.from(args.bytes),
      filename: args.filename,
      title: args.title,
      initial_comment: args.comment,
      alt_text: args.altText,
    };
    if (args.thread) await this.client.files.uploadV2({ ...common, channel_id: args.channel, thread_ts: args.thread });
    else await this.client.files.uploadV2({ ...common, channel_id: args.channel });
  }
}

/** A page of a conversation's messages as the Web API returns them (each a raw message object). */
export interface SlackPage<T = Record<string, unknown>> {
  items: T[];
  /** The next page's cursor; absent on the last page. */
  next?: string;
}

/** Orders two Slack message timestamps ("1700000000.000100"): negative, zero or positive. */
export function compareTs(a: string, b: string): number {
  const [ai = '', af = ''] = a.split('.');
  const [bi = '', bf = ''] = b.split('.');
  const whole = Number(ai) - Number(bi);
  if (whole !== 0) return whole;
  const x = af.padEnd(6, '0');
  const y = bf.padEnd(6, '0');
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The Slack error code of a failed Web API call (`not_in_channel`, …), if it was one. */
export function slackErrorCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const data = (e as { data?: unknown }).data;
  if (typeof data !== 'object' || data === null) return undefined;
  const code = (data as { error?: unknown }).error;
  return typeof code === 'string' ? code : undefined;
}

function page<T>(items: T[], next: string | undefined): SlackPage<T> {
  return next ? { items, next } : { items };
}
