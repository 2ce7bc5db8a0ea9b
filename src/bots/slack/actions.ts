/** The Cancel, Reroll and Vary buttons. */
import type { App, BlockAction, ButtonAction, RespondFn } from '@slack/bolt';
import { slackErrorText } from './error-text.js';
import { CANCEL_ACTION, REROLL_ACTION, VARY_ACTIONS } from './blocks.js';
import { fresh, guarded, startImage, type HandlerContext, type Tell } from './handler-context.js';
import { parseOrigin, type SlackOrigin } from './origin.js';

function ephemeral(respond: RespondFn): Tell {
  return async (text) => {
    await respond({ response_type: 'ephemeral', replace_original: false, text });
  };
}

/** Who pressed the button and where, after checking it may be used there. */
function presser(h: HandlerContext, body: BlockAction<ButtonAction>): { ok: true; origin: Omit<SlackOrigin, 'status'> } | { ok: false; text: string } {
  const team = body.team?.id ?? body.user.team_id ?? '';
  const channel = body.channel?.id ?? '';
  const dm = channel.startsWith('D');
  const allowed = h.access.check(team, channel, dm);
  if (!allowed.ok) return allowed;
  const message = body.message;
  const thread = typeof message?.thread_ts === 'string' ? message.thread_ts : message?.ts;
  return {
    ok: true,
    origin: { platform: 'slack', kind: 'reroll', team, channel, user: body.user.id, ...(thread ? { thread } : {}), ...(dm ? { dm: true } : {}) },
  };
}

export function registerActions(app: App, h: HandlerContext): void {
  app.action<BlockAction<ButtonAction>>(CANCEL_ACTION, async ({ ack, body, action, respond }) => {
    await ack();
    const tell = ephemeral(respond);
    await guarded(h, 'Cancel button', tell, async () => {
      const who = presser(h, body);
      if (!who.ok) return tell(who.text);
      const res = h.commands.cancel(action.value ?? '', h.access.invocation(who.origin, { conversation: false }));
      // The job's own message shows the cancel; only a refusal needs words.
      if (!res.ok) await tell(slackErrorText(res.error));
    });
  });

  // Reroll (same options, new seed) and Vary (a variation of the picture at the button's strength):
  // a new job of whoever pressed the button, in the thread of the picture it starts from.
  const again = (what: 'Reroll' | string, make: (jobId: string) => Parameters<typeof startImage>[2]) =>
    async ({ ack, body, action, respond }: { ack: () => Promise<void>; body: BlockAction<ButtonAction>; action: ButtonAction; respond: RespondFn }) => {
      await ack();
      const tell = ephemeral(respond);
      await guarded(h, `${what} button`, tell, async () => {
        if (!fresh(h, `trigger:${body.trigger_id}`)) return;
        const who = presser(h, body);
        if (!who.ok) return tell(who.text);
        const jobId = action.value ?? '';
        const before = parseOrigin(h.jobs.getJob(jobId)?.origin ?? null);
        const origin = { ...who.origin, ...(before?.thread ? { thread: before.thread } : {}) };
        await startImage(h, origin, make(jobId), tell, body.user.username ? { userName: body.user.username } : {});
      });
    };
  app.action<BlockAction<ButtonAction>>(REROLL_ACTION, again('Reroll', (jobId) => ({ reroll: jobId })));
  for (const v of VARY_ACTIONS) {
    app.action<BlockAction<ButtonAction>>(v.action, again(v.variation.label, (jobId) => ({ vary: jobId, strength: v.variation.strength })));
  }
}
