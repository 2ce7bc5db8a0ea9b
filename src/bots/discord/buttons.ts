import {
  ComponentType,
  InteractionResponseType,
  type APIApplicationCommandAutocompleteInteraction,
  type APIMessageComponentInteraction,
} from 'discord.js';
import { variationById } from '../../commands/image-choices.js';
import { ordinal } from '../../commands/wording.js';
import { problemText } from './words.js';
import { checkAccess } from './access.js';
import { discordFailure, isMessageGone } from './errors.js';
import { defer, deferUpdate, interactionOrigin, invocation, replyEphemeral, type HandlerDeps } from './handler-deps.js';
import { actorOf, CommandOptions } from './raw.js';
import { parseButtonId } from './render.js';
import { kindWord, shortId } from './text.js';

/** Cancel (while a job runs); Reroll, Vary (Subtle), Vary (Strong) and Delete (on a finished image). */
export async function handleButton(deps: HandlerDeps, i: APIMessageComponentInteraction): Promise<void> {
  const parsed = i.data.component_type === ComponentType.Button ? parseButtonId(i.data.custom_id) : null;
  if (!parsed) return replyEphemeral(deps, i, 'This button no longer does anything.');
  const actor = actorOf(i);
  const access = checkAccess(deps.ctx.config, actor);
  if (!access.ok) return replyEphemeral(deps, i, access.reason);
  const { action, jobId } = parsed;
  const job = deps.ctx.jobs.getJob(jobId);

  if (action === 'delete') {
    // The owner is the job's; for a job the store no longer has, the user who ran the command.
    const owner = job ? job.userId === `discord:${actor.userId}` : i.message.interaction_metadata?.user.id === actor.userId;
    if (!owner && !access.admin) return replyEphemeral(deps, i, 'Only the person who made this image, or a hearth admin, can delete it.');
    if (!(await deferUpdate(deps, i))) return;
    try {
      await deps.rest.deleteOriginal(i.token);
    } catch (e) {
      if (!isMessageGone(e)) throw discordFailure(e, 'deleting an image');
    }
    return;
  }

  if (action === 'cancel') {
    if (!(await deferUpdate(deps, i))) return;
    const origin = interactionOrigin(i, 'imagine', actor, true);
    const res = deps.ctx.commands.cancel(jobId, invocation(deps, actor, access, origin));
    if (!res.ok) await deps.rest.followup(i.token, { content: `⚠️ ${problemText(res.error)}`, ephemeral: true });
    return;
  }

  // Reroll (the same options, a new seed) and Vary (a variation of this image at the button's strength,
  // a new seed): a new job of whoever pressed it, through the same queue and limits, in a new message.
  if (!(await defer(deps, i, false))) return;
  const origin = interactionOrigin(i, 'imagine', actor, false);
  const inv = invocation(deps, actor, access, origin);
  const variation = action.startsWith('vary-') ? variationById(action.slice('vary-'.length)) : undefined;
  const res = variation ? deps.ctx.commands.vary(jobId, variation.strength, inv) : deps.ctx.commands.reroll(jobId, inv);
  if (!res.ok) deps.views.fail(origin, res.error);
}

/** /cancel's job option: the jobs this user may cancel, newest first. */
export async function handleAutocomplete(deps: HandlerDeps, i: APIApplicationCommandAutocompleteInteraction): Promise<void> {
  const actor = actorOf(i);
  const access = checkAccess(deps.ctx.config, actor);
  const opts = new CommandOptions(i.data.options);
  const typed = (opts.focused()?.value ?? '').trim().toLowerCase();
  const userId = `discord:${actor.userId}`;
  const choices: Array<{ name: string; value: string }> = [];
  if (access.ok && i.data.name === 'cancel') {
    const origin = interactionOrigin(i, 'ask', actor, true);
    const rows = deps.ctx.commands.activeJobs(invocation(deps, actor, access, origin)).map((j) => ({
      id: j.jobId,
      userId: j.userId,
      kind: j.kind,
      state: j.state === 'running' ? `running, step ${j.step ?? 0} of ${j.of ?? 0}` : `${ordinal((j.position ?? 0) + 1)} in line`,
    }));
    for (const r of rows) {
      if (typed && !r.id.startsWith(typed) && !r.kind.startsWith(typed)) continue;
      const mine = r.userId === userId ? '' : ` · ${r.userId}`;
      choices.push({ name: `${kindWord(r.kind)} ${shortId(r.id)} · ${r.state}${mine}`.slice(0, 100), value: r.id });
      if (choices.length === 25) break;
    }
  }
  await deps.acks.ack(() => deps.rest.respond(i.id, i.token, { type: InteractionResponseType.ApplicationCommandAutocompleteResult, data: { choices } }));
}
