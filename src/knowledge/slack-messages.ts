/**
 * Slack messages as the knowledge index holds them: which ones are indexed (people's messages, not
 * hearth's own answers nor channel joins), their text as plain words, their time from the ts.
 */
import type { SlackApi } from '../bots/slack/slack-api.js';
import type { IndexedMessage } from './types.js';

/** The Slack Web API calls the knowledge makes (SlackApi has them; tests never replace it). */
export type SlackReader = Pick<SlackApi, 'team' | 'history' | 'replies' | 'members' | 'channelInfo' | 'permalink' | 'userName'>;

/** Message subtypes that are something someone said; the rest (joins, topic changes, …) are not indexed. */
const SAID: ReadonlySet<string> = new Set(['thread_broadcast', 'file_share', 'bot_message', 'me_message']);

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** Slack's mrkdwn as plain text: mentions, channel links and URLs in words, entities decoded. */
export function slackPlainText(text: string): string {
  return text
    .replace(/<@([A-Z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, name?: string) => `@${name ?? id}`)
    .replace(/<#([A-Z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, name?: string) => `#${name || id}`)
    .replace(/<!([a-z]+)(?:\|[^>]*)?>/g, '@$1')
    .replace(/<([^>|]+)\|([^>]*)>/g, '$2 ($1)')
    .replace(/<([^>]+)>/g, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** Epoch milliseconds of a Slack ts ("1700000000.000100"). */
export function slackTsToMs(ts: string): number {
  return Math.round(Number(ts) * 1000);
}

/**
 * The message to index from a raw Slack message of `channel`, or undefined when it is not one to
 * index (a join, an empty message, hearth's own answers).
 */
export function indexableSlackMessage(raw: unknown, where: { workspace: string; channel: string; botUserId?: string }): IndexedMessage | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const m = raw as Record<string, unknown>;
  const ts = str(m.ts);
  const subtype = str(m.subtype);
  if (!ts || (subtype !== undefined && !SAID.has(subtype))) return undefined;
  const user = str(m.user);
  if (where.botUserId && user === where.botUserId) return undefined;
  const author = user ?? str(m.bot_id) ?? str(m.username);
  const text = slackPlainText(str(m.text) ?? '').trim();
  if (!author || text.length === 0) return undefined;
  const thread = str(m.thread_ts);
  return {
    platform: 'slack',
    workspace: where.workspace,
    channel: where.channel,
    messageId: ts,
    ...(thread && thread !== ts ? { threadId: thread } : {}),
    author,
    at: slackTsToMs(ts),
    text,
  };
}

/** The retry wait a rate-limited Web API call asked for (ms), or undefined for any other error. */
export function rateLimitWaitMs(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const { code, retryAfter } = e as { code?: unknown; retryAfter?: unknown };
  if (code !== 'slack_webapi_rate_limited_error') return undefined;
  return typeof retryAfter === 'number' && retryAfter >= 0 ? retryAfter * 1000 : 1000;
}
