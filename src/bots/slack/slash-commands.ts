/** `/ask`, `/imagine` and `/hearth`: acknowledged at once, then answered in a thread or privately. */
import type { App, RespondFn, SlashCommand } from '@slack/bolt';
import type { Invocation } from '../../commands/invocation.js';
import { knowledgeDroppedText } from '../../commands/knowledge-admin.js';
import { knowledgeStatusMessage } from './knowledge-status.js';
import { etaText } from '../../commands/wording.js';
import { askAdapterHelp, parseAskText } from './ask-flags.js';
import { slackErrorText } from './error-text.js';
import { fresh, guarded, helpLimits, startChat, startImage, type HandlerContext, type Tell } from './handler-context.js';
import { imagineHelp, parseImagine } from './imagine-flags.js';
import type { SlackOrigin } from './origin.js';
import { slackErrorCode } from './slack-api.js';
import { escapeMrkdwn, unescapeSlack } from './text.js';
import { gpuTelemetryLines } from '../../monitoring/telemetry-text.js';
import { workerLines } from '../../monitoring/cluster-status.js';

export const ASK_HELP = [
  '*/ask* answers a question in a thread under it: `/ask how do I undo a git commit?`',
  'Mention me in that thread (or anywhere) to go on with the conversation; in a direct message, just write.',
  'Share an image in a message that mentions me and I will look at it; start the message with `imagine` to paint from it instead.',
].join('\n');

const HEARTH_HELP = [
  '*hearth* shares one home GPU for questions and pictures.',
  '• `/ask QUESTION` — an answer in a thread; mention me there to go on',
  '• `/imagine PROMPT` — a picture (`/imagine help` for the options)',
  '• `/hearth queue` — your jobs and how busy the GPU is',
  '• `/hearth cancel` — cancel your newest job (or use its Cancel button)',
  '• `/hearth forget` — in a DM with me: forget our conversation (in a thread: mention me with "forget")',
  '• `/hearth status` — for admins: models, queue and GPU time used',
  '• `/hearth knowledge status` · `/hearth knowledge drop #channel` — for admins: the channels read for answers',
].join('\n');

function ephemeral(respond: RespondFn): Tell {
  return async (text) => {
    await respond({ response_type: 'ephemeral', text });
  };
}

/** The channel and thread a slash command answers in, after checking it may be used there. */
function place(h: HandlerContext, command: SlashCommand, kind: SlackOrigin['kind']): { ok: true; origin: Omit<SlackOrigin, 'status' | 'thread'> } | { ok: false; text: string } {
  const dm = command.channel_id.startsWith('D');
  const allowed = h.access.check(command.team_id, command.channel_id, dm);
  if (!allowed.ok) return allowed;
  return {
    ok: true,
    origin: { platform: 'slack', kind, team: command.team_id, channel: command.channel_id, user: command.user_id, ...(dm ? { dm: true } : {}) },
  };
}

/** Posts the question the thread hangs from; undefined (and the person told why) when hearth can't post here. */
async function postRoot(h: HandlerContext, channel: string, text: string, tell: Tell): Promise<string | undefined> {
  try {
    return await h.api.post(channel, { text });
  } catch (e) {
    const code = slackErrorCode(e);
    if (code === 'not_in_channel' || code === 'channel_not_found' || code === 'is_archived' || code === 'restricted_action') {
      await tell("I can't post in this conversation. Invite me to the channel (`/invite @hearth`) or send me a direct message.");
      return undefined;
    }
    throw e;
  }
}

export function registerSlashCommands(app: App, h: HandlerContext): void {
  app.command('/ask', async ({ command, ack, respond }) => {
    await ack();
    const tell = ephemeral(respond);
    await guarded(h, '/ask', tell, async () => {
      if (!fresh(h, `trigger:${command.trigger_id}`)) return;
      const where = place(h, command, 'ask');
      if (!where.ok) return tell(where.text);
      const adapters = h.commands.limits.adapters ?? [];
      const parsed = parseAskText(unescapeSlack(command.text), adapters);
      if (!parsed.ok) return tell(slackErrorText(parsed.error));
      const { prompt, adapter } = parsed.value;
      if (prompt.length === 0 || prompt.toLowerCase() === 'help') return tell(ASK_HELP + askAdapterHelp(adapters));
      const root = await postRoot(h, command.channel_id, `*<@${command.user_id}> asked:* ${escapeMrkdwn(prompt)}`, tell);
      if (!root) return;
      const input = adapter !== undefined ? { prompt, adapter } : { prompt };
      await startChat(h, { ...where.origin, thread: root }, input, tell, { userName: command.user_name, root });
    });
  });

  app.command('/imagine', async ({ command, ack, respond }) => {
    await ack();
    const tell = ephemeral(respond);
    await guarded(h, '/imagine', tell, async () => {
      if (!fresh(h, `trigger:${command.trigger_id}`)) return;
      const where = place(h, command, 'imagine');
      if (!where.ok) return tell(where.text);
      const parsed = parseImagine(unescapeSlack(command.text));
      if (!parsed.ok) return tell(`${slackErrorText(parsed.error)} Type \`/imagine help\` for the options.`);
      if (parsed.value.help) return tell(imagineHelp(helpLimits(h)));
      const input = parsed.value.input;
      const root = await postRoot(h, command.channel_id, `*<@${command.user_id}> imagines:* ${escapeMrkdwn(input.prompt)}`, tell);
      if (!root) return;
      await startImage(h, { ...where.origin, thread: root }, { input }, tell, { userName: command.user_name, root });
    });
  });

  app.command('/hearth', async ({ command, ack, respond }) => {
    await ack();
    const tell = ephemeral(respond);
    await guarded(h, '/hearth', tell, async () => {
      if (!fresh(h, `trigger:${command.trigger_id}`)) return;
      const where = place(h, command, 'ask');
      if (!where.ok) return tell(where.text);
      const inv = h.access.invocation(where.origin);
      const sub = command.text.trim().split(/\s+/)[0]?.toLowerCase() ?? '';
      switch (sub) {
        case 'queue': {
          const view = h.commands.queue(inv);
          const mine = view.mine.map((j) =>
            j.state === 'running' ? `• ${j.kind}: running${j.of ? `, step ${j.step ?? 0} of ${j.of}` : ''}` : `• ${j.kind}: ${j.position === 0 ? 'next' : `#${(j.position ?? 0) + 1} in line`}, starts in ${etaText(j.etaSeconds ?? 0)}`,
          );
          return tell([mine.length > 0 ? '*Your jobs*' : 'You have no jobs waiting or running.', ...mine, `The GPU has ${view.running.length} running and ${view.queued} waiting, from ${view.users} people.`].join('\n'));
        }
        case 'cancel': {
          const res = h.commands.cancel(undefined, inv);
          return tell(res.ok ? `Cancelled your ${res.value.kind} job.` : slackErrorText(res.error));
        }
        case 'forget': {
          if (!where.origin.dm) return tell('To make me forget a thread, mention me in it with the word `forget`.');
          const res = h.commands.forget(inv);
          return tell(res.ok ? `Done: I forgot ${res.value.turns} messages of our conversation.` : slackErrorText(res.error));
        }
        case 'status': {
          const res = h.commands.status(inv);
          if (!res.ok) return tell(slackErrorText(res.error));
          const s = res.value;
          const gb = (b: number) => (b / 2 ** 30).toFixed(1);
          const usage = s.usageToday.slice(0, 10).map((u) => `• ${u.userId}: ${u.seconds.toFixed(0)} GPU-s today`);
          return tell([
            `*Models loaded:* ${s.loadedModels.join(', ') || 'none'} (${gb(s.vramUsedBytes)} of ${gb(s.vramBudgetBytes)} GB)`,
            ...gpuTelemetryLines(s.gpu).map((l) => `*Telemetry:* ${escapeMrkdwn(l)}`),
            ...(s.workers ? [`*Workers:* ${s.workers.length}`, ...workerLines(s.workers).map((l) => `> ${escapeMrkdwn(l)}`)] : []),
            `*Queue:* ${s.running.length} running, ${s.queue.length} waiting; ${s.steps} steps run, ${s.swaps} model swaps`,
            ...usage,
          ].join('\n'));
        }
        case 'knowledge':
          return tell(knowledgeCommand(h, inv, command.text));
        default:
          return tell(HEARTH_HELP);
      }
    });
  });
}

/**
 * `/hearth knowledge status` and `/hearth knowledge drop #channel` (admins; this workspace only). The
 * channel may come as Slack escapes it (`<#C123|name>`), as typed (`#name`, matched against the indexed
 * channels' names) or as an id.
 */
function knowledgeCommand(h: HandlerContext, inv: Invocation, text: string): string {
  const [, action = 'status', target = ''] = unescapeSlack(text).trim().split(/\s+/);
  const k = h.commands.knowledge;
  if (action.toLowerCase() === 'status') {
    const res = k.status(inv);
    return res.ok ? knowledgeStatusMessage(res.value, Date.now()) : slackErrorText(res.error);
  }
  if (action.toLowerCase() !== 'drop' || target === '') return 'Try `/hearth knowledge status` or `/hearth knowledge drop #channel`.';
  let channel = /^<#([A-Z0-9]+)(?:\|[^>]*)?>$/.exec(target)?.[1] ?? target;
  if (channel.startsWith('#')) {
    const name = channel.slice(1).toLowerCase();
    const status = k.status(inv);
    channel = (status.ok ? status.value.channels.find((c) => c.name?.toLowerCase() === name)?.channel : undefined) ?? channel;
  }
  const res = k.drop(inv, channel);
  return res.ok ? knowledgeDroppedText(res.value) : slackErrorText(res.error);
}
