import type { Json } from '../../engine/types.js';

/** What started a job, which decides how its answer is shown. */
export type SlackOriginKind = 'ask' | 'mention' | 'dm' | 'imagine' | 'reroll';

/**
 * Where a job's answer goes, stored with the job (`JobRecord.origin`) so that a job recovered after a
 * restart still finds its thread and its status message.
 */
export interface SlackOrigin {
  platform: 'slack';
  kind: SlackOriginKind;
  team: string;
  channel: string;
  /** The Slack user who asked (for `recipient_user_id` and ephemeral errors). */
  user: string;
  /** Thread to answer in; absent for a top-level DM answer. */
  thread?: string;
  /** The message that shows queue position, progress and the buttons. */
  status?: string;
  /** A DM with the app: the answer is private already, and streaming needs no recipient. */
  dm?: boolean;
  /**
   * The answer's own messages (streams, parts after the first) posted so far, recorded as they are
   * posted: an answer that starts over (a restart, a worker crash) removes them first, so only one
   * answer is ever left in the thread.
   */
  answer?: string[];
  /**
   * Set while hearth asks Slack for a new answer message: the newest ts it knew in the conversation
   * then. A kill -9 before Slack's reply is stored leaves a message no `answer` names; after a restart
   * the bot's messages newer than this that no job owns are taken back (src/bots/slack/orphans.ts).
   */
  posting?: string;
}

export function originToJson(o: SlackOrigin): Json {
  const out: Record<string, Json> = { platform: 'slack', kind: o.kind, team: o.team, channel: o.channel, user: o.user };
  if (o.thread !== undefined) out.thread = o.thread;
  if (o.status !== undefined) out.status = o.status;
  if (o.dm) out.dm = true;
  if (o.answer && o.answer.length > 0) out.answer = [...o.answer];
  if (o.posting !== undefined) out.posting = o.posting;
  return out;
}

const KINDS: readonly string[] = ['ask', 'mention', 'dm', 'imagine', 'reroll'];

/** The origin of a Slack job, or undefined for another platform's job (or one stored by an older version). */
export function parseOrigin(value: Json | null | undefined): SlackOrigin | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { platform, kind, team, channel, user, thread, status, dm, answer, posting } = value;
  if (platform !== 'slack' || typeof kind !== 'string' || !KINDS.includes(kind)) return undefined;
  if (typeof team !== 'string' || typeof channel !== 'string' || typeof user !== 'string') return undefined;
  const o: SlackOrigin = { platform: 'slack', kind: kind as SlackOriginKind, team, channel, user };
  if (typeof thread === 'string') o.thread = thread;
  if (typeof status === 'string') o.status = status;
  if (dm === true) o.dm = true;
  if (Array.isArray(answer)) {
    const ts = answer.filter((x): x is string => typeof x === 'string');
    if (ts.length > 0) o.answer = ts;
  }
  if (typeof posting === 'string') o.posting = posting;
  return o;
}

/** The conversation of a thread (or of a whole DM when `thread` is absent). */
export function conversationIdOf(team: string, channel: string, thread?: string): string {
  return thread ? `slack:${team}:${channel}:${thread}` : `slack:${team}:${channel}`;
}
