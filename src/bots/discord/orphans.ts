/**
 * Finding the answer message a crash left behind on Discord (as src/bots/slack/orphans.ts does for
 * Slack). Before hearth asks Discord for a new message of an answer (an interaction follow-up, or a
 * message in a channel), it records in the job's origin that it is posting one (`posting`: the
 * channel and the newest snowflake it knew); the message's own id replaces it once Discord's reply
 * arrives. A kill -9 between the two leaves a message no origin names. After a restart such a job's
 * view reads the channel since that snowflake for the bot's messages that are that answer's:
 * - a follow-up carries `interaction_metadata.id` = the interaction's id (and, being a follow-up,
 *   `original_response_message_id`), so it is matched exactly, whatever else is in the channel;
 * - a channel message carries no such mark: the bot's plain messages (no interaction, no reply, no
 *   webhook) newer than the intent, made before this process began, that no job being shown owns.
 * Ephemeral follow-ups are in no channel's history and cannot be found.
 */
import type { APIMessage } from 'discord.js';
import type { PostingIntent } from './origin.js';
import type { DiscordRest } from './rest-client.js';

/** Pages read at most when looking for a left-behind message (Discord gives at most 100 a page). */
export const ORPHAN_SEARCH_PAGES = 10;
const PAGE = 100;

/**
 * How far before the intent a channel search starts, on hearth's clock, for a clock a little ahead
 * of Discord's: the message was made after the intent was stored, so nothing older is looked at.
 */
export const CLOCK_MARGIN_MS = 60_000;

const DISCORD_EPOCH = 1_420_070_400_000n;

/** The smallest snowflake of a moment (ms since 1970): every id Discord makes later is larger. */
export function snowflakeAt(ms: number): string {
  return ((BigInt(Math.max(0, Math.floor(ms))) - DISCORD_EPOCH) << 22n).toString();
}

/** Orders two snowflakes (decimal strings); anything else sorts before every snowflake. */
export function compareIds(a: string, b: string): number {
  const x = /^\d+$/.test(a) ? BigInt(a) : -1n;
  const y = /^\d+$/.test(b) ? BigInt(b) : -1n;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The newest of some ids (ignoring what is not a snowflake: `@original`), or undefined. */
export function newestId(ids: ReadonlyArray<string | undefined>): string | undefined {
  let out: string | undefined;
  for (const id of ids) if (id !== undefined && /^\d+$/.test(id) && (out === undefined || compareIds(id, out) > 0)) out = id;
  return out;
}

export interface OrphanSearch extends PostingIntent {
  /** The bot's user id: only its own messages are ever taken. */
  botUserId: string;
  /** The interaction a follow-up belongs to (needed for `via: 'interaction'`). */
  interactionId?: string;
  /** Channel messages: only those older than this snowflake (made before this process began) are candidates. */
  before?: string;
  /** Messages some job being shown knows of: never taken as left behind. */
  owned(channelId: string, id: string): boolean;
}

/** Whether one message of the channel is the one the interrupted request made. */
export function isOrphan(m: APIMessage, s: OrphanSearch): boolean {
  if (m.author?.id !== s.botUserId || compareIds(m.id, s.after) <= 0 || s.owned(s.channelId, m.id)) return false;
  const meta = m.interaction_metadata;
  if (s.via === 'interaction') return s.interactionId !== undefined && meta?.id === s.interactionId && meta.original_response_message_id !== undefined;
  if (meta || m.webhook_id || m.message_reference) return false;
  return s.before === undefined || compareIds(m.id, s.before) < 0;
}

/**
 * The ids of the messages the interrupted request made (see the file's comment), oldest first.
 * Throws Discord's error when the channel cannot be read (403, 50001 Missing Access), and an error
 * naming the limit when more than {@link ORPHAN_SEARCH_PAGES} pages of newer messages would be read.
 */
export async function findOrphans(rest: Pick<DiscordRest, 'messagesAfter'>, s: OrphanSearch): Promise<string[]> {
  const out: string[] = [];
  let after = s.after;
  let seen = 0;
  for (let pages = 0; ; pages++) {
    if (pages === ORPHAN_SEARCH_PAGES) {
      throw new Error(`channel ${s.channelId} has more messages after ${s.after} than the search reads: looked at ${seen} in ${ORPHAN_SEARCH_PAGES} pages, the most allowed`);
    }
    const page = await rest.messagesAfter(s.channelId, after, PAGE);
    seen += page.length;
    for (const m of page) if (isOrphan(m, s)) out.push(m.id);
    const newest = newestId(page.map((m) => m.id));
    if (page.length < PAGE || newest === undefined) break;
    // A channel search stops at what this process made: the crashed run made nothing later.
    if (s.via === 'channel' && s.before !== undefined && compareIds(newest, s.before) >= 0) break;
    after = newest;
  }
  return out.sort(compareIds);
}
