/**
 * Finding the answer message a crash left behind. Before hearth asks Slack for a new message of an
 * answer (chat.startStream, chat.postMessage), it records in the job's origin that it is posting one
 * in that conversation after a given ts; the message's own ts is recorded once Slack's reply arrives.
 * A kill -9 between the two leaves a message no origin names. After a restart such a job's view looks
 * in the conversation for the bot's messages newer than the recorded ts that no job of this process
 * owns: those are what the interrupted call created, and they are taken back like any other message
 * of the interrupted attempt.
 */
import { compareTs, type SlackApi } from './slack-api.js';

/** Pages read at most when looking for a left-behind message (up to 200 messages a page, as Slack gives). */
export const ORPHAN_SEARCH_PAGES = 10;
const PAGE = 200;

export interface OrphanSearch {
  channel: string;
  /** The thread the answer goes in; absent for a top-level answer in a DM. */
  thread?: string;
  /** The newest message hearth knew in that conversation when it began posting (exclusive). */
  after: string;
  /** Messages some job knows of (its status, its answer): never taken as left behind. */
  owned(ts: string): boolean;
}

/**
 * The ts of the bot's messages in the conversation newer than `after` that no job owns, oldest first.
 * Throws the Web API's error (e.g. `missing_scope`) when the conversation cannot be read, and an
 * error naming the limit when it has more than {@link ORPHAN_SEARCH_PAGES} pages of newer messages.
 */
export async function findOrphans(api: SlackApi, s: OrphanSearch): Promise<string[]> {
  const bot = await api.botUser();
  const out: string[] = [];
  let seen = 0;
  let cursor: string | undefined;
  for (let pages = 0; ; pages++) {
    if (pages === ORPHAN_SEARCH_PAGES) {
      throw new Error(`${s.channel} has more messages after ${s.after} than the search reads: looked at ${seen} in ${ORPHAN_SEARCH_PAGES} pages, the most allowed`);
    }
    const opts = { limit: PAGE, oldest: s.after, ...(cursor ? { cursor } : {}) };
    const page = s.thread ? await api.replies(s.channel, s.thread, opts) : await api.history(s.channel, opts);
    seen += page.items.length;
    for (const m of page.items) {
      const ts = typeof m.ts === 'string' ? m.ts : undefined;
      if (!ts || ts === s.thread || m.user !== bot || compareTs(ts, s.after) <= 0 || s.owned(ts)) continue;
      out.push(ts);
    }
    if (!page.next) break;
    cursor = page.next;
  }
  return out.sort(compareTs);
}
