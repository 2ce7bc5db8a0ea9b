/**
 * The `knowledge` section: which channels' history is indexed and searched for answers with sources,
 * and which of them the web console may be answered from.
 */
import { z } from 'zod';
import { idList, intIn } from './fields.js';

/**
 * The indexed channels the web console's answers may use. The console has no platform identity whose
 * channel access could be asked, so its access is only what is named here: everyone who can open the
 * console (the shared `web:console` and every `web.users` person) is answered from these channels,
 * and from nothing when both lists are empty (the default).
 */
const consoleSchema = z.strictObject({
  /** Slack channel ids, each one of `knowledge.slackChannels`. */
  slackChannels: idList,
  /** Discord channel ids, each one of `knowledge.discordChannels`. */
  discordChannels: idList,
});

/** Workspace knowledge: channels whose history is indexed and searched for answers with sources. */
export const knowledgeSchema = z
  .strictObject({
    /** Slack channel ids (C…, G…) to index; the app must be a member of each. */
    slackChannels: idList,
    /** Discord channel ids to index. */
    discordChannels: idList,
    /** How many indexed messages an answer is given (and lists as sources). */
    topK: intIn(1, 20).default(5),
    /** Slack Web API calls per minute the backfill may make (conversations.history is Tier 3, about 50). */
    slackRequestsPerMinute: intIn(1, 1000).default(40),
    /** Discord REST calls per second the backfill may make (Discord's global cap is 50; per-route buckets are lower). */
    discordRequestsPerSecond: intIn(1, 50).default(5),
    /** How long who-can-read-a-channel answers are kept (seconds) before they are asked again. */
    accessCacheSeconds: intIn(0, 3600).default(60),
    /** What the web console may be answered from (none by default). */
    console: consoleSchema.prefault({}),
  })
  .superRefine((k, ctx) => {
    // A console channel must be indexed: otherwise nothing is there to answer from, and the mistake
    // (a typo, or a channel meant to be indexed) would go unnoticed.
    for (const key of ['slackChannels', 'discordChannels'] as const) {
      const indexed = k[key];
      k.console[key].forEach((channel, i) => {
        if (indexed.includes(channel)) return;
        const list = indexed.length === 0 ? 'none are listed' : `they are ${indexed.join(', ')}`;
        ctx.addIssue({
          code: 'custom',
          path: ['console', key, i],
          input: channel,
          message: `a channel hearth indexes (one of knowledge.${key}; ${list})`,
          params: { hint: `Add ${channel} to knowledge.${key} to index it, or take it out of knowledge.console.${key}.` },
        });
      });
    }
  });
