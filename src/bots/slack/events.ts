/**
 * Conversations: an @mention in a channel is answered in its thread (further mentions in the thread
 * go on with the same conversation), and a direct message to the app is a conversation of its own.
 */
import type { App } from '@slack/bolt';
import { slackErrorText } from './error-text.js';
import { fresh, guarded, helpLimits, startChat, startImage, type HandlerContext, type Tell } from './handler-context.js';
import { imagineHelp, parseImagine } from './imagine-flags.js';
import type { SlackOrigin } from './origin.js';
import { ASK_HELP } from './slash-commands.js';
import { unescapeSlack } from './text.js';

/** Images in one message that are passed on to be looked at; more are ignored (each costs a caption job). */
export const MAX_IMAGES = 4;

/** The fields of a message event hearth reads; Slack's message events come in many subtypes. */
interface IncomingMessage {
  subtype?: string;
  user?: string;
  bot_id?: string;
  text: string;
  ts: string;
  thread_ts?: string;
  channel: string;
  channel_type?: string;
  files: Array<{ mimetype?: string; url_private?: string; url_private_download?: string }>;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function readMessage(raw: unknown): IncomingMessage | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const m = raw as Record<string, unknown>;
  const ts = str(m.ts);
  const channel = str(m.channel);
  if (!ts || !channel) return undefined;
  const files = Array.isArray(m.files) ? (m.files as unknown[]).filter((f): f is Record<string, unknown> => typeof f === 'object' && f !== null) : [];
  const out: IncomingMessage = {
    text: str(m.text) ?? '',
    ts,
    channel,
    files: files.map((f) => ({
      ...(str(f.mimetype) ? { mimetype: str(f.mimetype)! } : {}),
      ...(str(f.url_private) ? { url_private: str(f.url_private)! } : {}),
      ...(str(f.url_private_download) ? { url_private_download: str(f.url_private_download)! } : {}),
    })),
  };
  for (const key of ['subtype', 'user', 'bot_id', 'thread_ts', 'channel_type'] as const) {
    const v = str(m[key]);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

function imageUrls(m: IncomingMessage): string[] {
  return m.files
    .filter((f) => f.mimetype?.startsWith('image/'))
    .map((f) => f.url_private_download ?? f.url_private)
    .filter((u): u is string => typeof u === 'string')
    .slice(0, MAX_IMAGES);
}

/** The text without mentions of the app itself. */
function withoutMention(text: string, botUserId: string | undefined): string {
  if (!botUserId) return text;
  return text.replace(new RegExp(`<@${botUserId}(?:\\|[^>]*)?>`, 'g'), ' ').replace(/\s+/g, ' ');
}

/** A message that starts with "imagine" (after the mention): `/imagine`'s flags, a shared image to start from. */
const IMAGINE = /^imagine\b[:,]?\s*/i;

/**
 * "@hearth imagine …" with an image shared in the message: image-to-image, since a slash command
 * cannot carry a file. The text takes /imagine's flags; the first shared image is the one to start
 * from (unless `--image` names another), downloaded by the command with the bot token, under
 * `files.allowedHosts` and `files.maxBytes`.
 */
async function imagineFromMessage(h: HandlerContext, origin: Omit<SlackOrigin, 'status'>, text: string, images: string[], tell: Tell): Promise<void> {
  const parsed = parseImagine(text);
  if (!parsed.ok) return tell(`${slackErrorText(parsed.error)} Type \`/imagine help\` for the options.`);
  if (parsed.value.help) return tell(imagineHelp(helpLimits(h)));
  const input = parsed.value.input;
  const first = images[0];
  if (!input.image && first) input.image = { url: first };
  await startImage(h, { ...origin, kind: 'imagine' }, { input }, tell);
}

async function converse(h: HandlerContext, origin: Omit<SlackOrigin, 'status'>, m: IncomingMessage, botUserId: string | undefined, tell: Tell): Promise<void> {
  const prompt = unescapeSlack(withoutMention(m.text, botUserId)).trim();
  const images = imageUrls(m);
  if (IMAGINE.test(prompt)) return imagineFromMessage(h, origin, prompt.replace(IMAGINE, ''), images, tell);
  const say = (text: string) => h.api.post(origin.channel, { text }, origin.thread);
  if (/^forget[.!]?$/i.test(prompt) && images.length === 0) {
    const res = h.commands.forget(h.access.invocation({ ...origin }));
    await say(res.ok ? `Done: I forgot ${res.value.turns} messages of this conversation.` : slackErrorText(res.error));
    return;
  }
  if (prompt.length === 0 && images.length === 0) {
    await say(ASK_HELP);
    return;
  }
  const input = { prompt: prompt.length > 0 ? prompt : 'What is in this image?', ...(images.length > 0 ? { imageUrls: images } : {}) };
  await startChat(h, origin, input, tell);
}

export function registerEvents(app: App, h: HandlerContext): void {
  // New, edited and deleted messages of the indexed channels keep workspace knowledge current.
  app.event('message', async ({ event, body }) => {
    if (!h.knowledge) return;
    await h.knowledge.onEvent(body.team_id, event).catch((e: unknown) => h.report(e, 'slack: indexing a message'));
  });

  app.event('app_mention', async ({ event, body, context }) => {
    const m = readMessage(event);
    if (!m || !m.user || m.bot_id) return;
    const user = m.user;
    const thread = m.thread_ts ?? m.ts;
    const tell: Tell = async (text) => h.api.ephemeral(m.channel, user, text, thread);
    await guarded(h, 'mention', tell, async () => {
      // Slack retries an event it thinks was missed (same event id); a message can also arrive twice.
      if (!fresh(h, `event:${body.event_id}`, `msg:${m.channel}:${m.ts}`)) return;
      const allowed = h.access.check(body.team_id, m.channel, false);
      if (!allowed.ok) {
        if (allowed.reason === 'channel') await tell(allowed.text);
        return;
      }
      const origin = { platform: 'slack', kind: 'mention', team: body.team_id, channel: m.channel, user, thread } as const;
      await converse(h, origin, m, context.botUserId, tell);
    });
  });

  app.event('message', async ({ event, body, context }) => {
    const m = readMessage(event);
    if (!m || m.channel_type !== 'im' || !m.user || m.bot_id) return;
    if (m.subtype !== undefined && m.subtype !== 'file_share' && m.subtype !== 'thread_broadcast') return;
    const user = m.user;
    const tell: Tell = async (text) => {
      await h.api.post(m.channel, { text }, m.thread_ts);
    };
    await guarded(h, 'direct message', tell, async () => {
      if (!fresh(h, `event:${body.event_id}`, `msg:${m.channel}:${m.ts}`)) return;
      if (!h.access.check(body.team_id, m.channel, true).ok) return;
      // A DM is one conversation; a thread inside it is a conversation of its own.
      const origin = { platform: 'slack', kind: 'dm', team: body.team_id, channel: m.channel, user, dm: true, ...(m.thread_ts ? { thread: m.thread_ts } : {}) } as const;
      await converse(h, origin, m, context.botUserId, tell);
    });
  });
}
