import { ChannelType, type APIChatInputApplicationCommandInteraction } from 'discord.js';
import type { ImagineInput } from '../../commands/hearth-commands.js';
import { knowledgeDroppedText } from '../../commands/knowledge-admin.js';
import { knowledgeStatusMessage } from './knowledge-status.js';
import { problemText } from './words.js';
import type { ErrorInfo } from '../../engine/types.js';
import { checkAccess, type Actor } from './access.js';
import { discordFailure } from './errors.js';
import { conversationOf, defer, interactionOrigin, invocation, replyEphemeral, type HandlerDeps } from './handler-deps.js';
import { actorOf, CommandOptions } from './raw.js';
import { clip } from './render.js';
import { attachmentProblem, kindWord, queueText, shortId, statusText } from './text.js';

type Access = { admin: boolean; weight: number };

interface Call {
  i: APIChatInputApplicationCommandInteraction;
  actor: Actor;
  access: Access;
  opts: CommandOptions;
}

const PUBLIC = new Set(['imagine', 'caption']);

/** A slash command: checked, acknowledged at once, then run. */
export async function handleSlashCommand(deps: HandlerDeps, i: APIChatInputApplicationCommandInteraction): Promise<void> {
  const actor = actorOf(i);
  const access = checkAccess(deps.ctx.config, actor);
  if (!access.ok) return replyEphemeral(deps, i, access.reason);
  const opts = new CommandOptions(i.data.options, i.data.resolved);
  const name = i.data.name;
  const ephemeral = name === 'ask' ? opts.boolean('private') === true : !PUBLIC.has(name);
  if (!(await defer(deps, i, ephemeral))) return;
  const call: Call = { i, actor, access, opts };
  try {
    switch (name) {
      case 'ask':
        return await ask(deps, call, ephemeral);
      case 'imagine':
        return await imagine(deps, call);
      case 'caption':
        return await caption(deps, call);
      case 'queue':
        return await answer(deps, call, queueText(deps.ctx.commands.queue(inv(deps, call))));
      case 'cancel':
        return await cancel(deps, call);
      case 'forget':
        return await forget(deps, call);
      case 'hearth':
        return await status(deps, call);
      default:
        return await answer(deps, call, `hearth has no /${name} command any more. Type / to see the ones it has.`);
    }
  } catch (e) {
    const failure = discordFailure(e, `running /${name}`);
    deps.ctx.reportError(failure, 'discord: command');
    if (ephemeral) {
      await answer(deps, call, '⚠️ Sorry, something went wrong on hearth’s side. The admin can find the details in the log.').catch(() => {});
      return;
    }
    // A public reply goes the way of a failed job's: replaced by a note only its user sees.
    deps.views.fail(interactionOrigin(call.i, 'ask', call.actor, false), { code: 'RUNNER_FAILED', message: failure.message });
  }
}

function inv(deps: HandlerDeps, call: Call, conversationId?: string) {
  const origin = interactionOrigin(call.i, 'ask', call.actor, true);
  return invocation(deps, call.actor, call.access, origin, conversationId);
}

/**
 * The answer of a command whose reply only its user sees. An answer is not a failure: it is never
 * dressed as an error code (a failure goes through `deps.views.fail` with its own).
 */
async function answer(deps: HandlerDeps, call: Call, text: string): Promise<void> {
  await deps.rest.editOriginal(call.i.token, { content: clip(text, 2000) });
}

async function ask(deps: HandlerDeps, call: Call, ephemeral: boolean): Promise<void> {
  const { i, actor, opts } = call;
  const origin = interactionOrigin(i, 'ask', actor, ephemeral);
  const prompt = opts.string('prompt') ?? '';
  const image = opts.attachment('image');
  if (image) {
    const bad = attachmentProblem(image, deps.ctx.config.files.maxBytes);
    if (bad) return deps.views.fail(origin, bad);
  }
  // A private question stays out of a shared thread's memory; a DM is private anyway.
  let conversationId = actor.isDm || !ephemeral ? conversationOf(actor) : undefined;
  if (actor.isThread && conversationId) deps.threads.add(actor.channelId, actor.parentId);
  let threadFrom: string | undefined;
  const textChannel = i.channel?.type === ChannelType.GuildText || i.channel?.type === ChannelType.GuildAnnouncement;
  if (!conversationId && !ephemeral && deps.ctx.config.discord.threadPerAsk && actor.guildId && textChannel) {
    // The reply becomes the thread's first message; Discord gives a thread the id of the message it starts from.
    try {
      threadFrom = (await deps.rest.getOriginal(i.token)).id;
      conversationId = `discord:thread:${threadFrom}`;
    } catch (e) {
      deps.ctx.reportError(discordFailure(e, 'reading the reply to open a thread on'), 'discord: ask');
    }
  }
  const invo = invocation(deps, actor, call.access, origin, conversationId);
  const adapter = opts.string('adapter');
  const queued = await deps.ctx.commands.ask({ prompt, ...(image ? { imageUrls: [image.url] } : {}), ...(adapter ? { adapter } : {}) }, invo);
  if (!queued.ok) return deps.views.fail(origin, queued.error);
  if (threadFrom) {
    try {
      const thread = await deps.rest.threadFromMessage(actor.channelId, threadFrom, threadName(prompt));
      deps.threads.add(thread.id, actor.channelId);
    } catch (e) {
      deps.ctx.reportError(discordFailure(e, 'opening a thread for follow-ups'), 'discord: ask');
    }
  }
}

export function threadName(prompt: string): string {
  const oneLine = prompt.replace(/\s+/g, ' ').trim();
  return clip(oneLine || 'hearth', 90);
}

/** "512x768" → width and height; anything else is refused naming the expected form. */
export function parseSize(size: string | undefined): { width?: number; height?: number } | ErrorInfo {
  if (size === undefined) return {};
  const m = /^\s*(\d{1,5})\s*[x×*]\s*(\d{1,5})\s*$/i.exec(size);
  if (!m) return { code: 'INVALID_INPUT', message: `size must look like 512x768 (width x height); got "${clip(size, 40)}"`, facts: { option: 'size', given: size } };
  return { width: Number(m[1]), height: Number(m[2]) };
}

async function imagine(deps: HandlerDeps, call: Call): Promise<void> {
  const { i, actor, opts } = call;
  const origin = interactionOrigin(i, 'imagine', actor, false);
  const size = parseSize(opts.string('size'));
  if ('code' in size) return deps.views.fail(origin, size);
  const input: ImagineInput = { prompt: opts.string('prompt') ?? '', ...size };
  const negative = opts.string('negative');
  if (negative !== undefined) input.negativePrompt = negative;
  const steps = opts.integer('steps');
  if (steps !== undefined) input.steps = steps;
  const seed = opts.integer('seed');
  if (seed !== undefined) input.seed = seed;
  const guidance = opts.number('guidance');
  if (guidance !== undefined) input.guidance = guidance;
  const sampler = opts.string('sampler');
  if (sampler !== undefined) input.scheduler = sampler;
  // Image-to-image: the attachment is downloaded by the command, under files.maxBytes as for /caption.
  const image = opts.attachment('image');
  if (image) {
    const bad = attachmentProblem(image, deps.ctx.config.files.maxBytes);
    if (bad) return deps.views.fail(origin, bad);
    input.image = { url: image.url };
  }
  const strength = opts.number('strength');
  if (strength !== undefined) input.strength = strength;
  const queued = await deps.ctx.commands.imagineFrom(input, invocation(deps, actor, call.access, origin));
  if (!queued.ok) deps.views.fail(origin, queued.error);
}

async function caption(deps: HandlerDeps, call: Call): Promise<void> {
  const { i, actor, opts } = call;
  const origin = interactionOrigin(i, 'caption', actor, false);
  const image = opts.attachment('image');
  if (!image) return deps.views.fail(origin, { code: 'INVALID_INPUT', message: 'attach an image to describe', facts: { option: 'image' } });
  const bad = attachmentProblem(image, deps.ctx.config.files.maxBytes);
  if (bad) return deps.views.fail(origin, bad);
  const question = opts.string('question');
  const detail = opts.string('detail');
  const queued = await deps.ctx.commands.caption(
    {
      imageUrl: image.url,
      ...(question !== undefined ? { question } : {}),
      ...(detail !== undefined ? { detail } : {}),
    },
    invocation(deps, actor, call.access, origin),
  );
  if (!queued.ok) deps.views.fail(origin, queued.error);
}

async function cancel(deps: HandlerDeps, call: Call): Promise<void> {
  const invo = inv(deps, call);
  const given = call.opts.string('job');
  const id = given ? deps.ctx.commands.resolveJobId(given, invo) : undefined;
  const res = deps.ctx.commands.cancel(id, invo);
  if (!res.ok) return answer(deps, call, `⚠️ ${problemText(res.error)}`);
  const owner = res.value.userId === invo.userId ? 'your' : 'the';
  await answer(deps, call, `Cancelled ${owner} ${kindWord(res.value.kind)} job \`${shortId(res.value.id)}\`.`);
}

async function forget(deps: HandlerDeps, call: Call): Promise<void> {
  const conversationId = conversationOf(call.actor);
  if (!conversationId) return answer(deps, call, 'hearth keeps a conversation only in a thread or a DM; there is nothing to forget here.');
  const res = deps.ctx.commands.forget(inv(deps, call, conversationId));
  if (!res.ok) return answer(deps, call, `⚠️ ${problemText(res.error)}`);
  const n = res.value.turns;
  await answer(deps, call, n === 0 ? 'There was nothing to forget here.' : `Forgot ${n} message${n === 1 ? '' : 's'} of this conversation. The next /ask here starts fresh.`);
}

async function status(deps: HandlerDeps, call: Call): Promise<void> {
  const sub = call.opts.subcommand;
  if (sub === 'knowledge status' || sub === 'knowledge drop') return knowledge(deps, call, sub);
  if (sub !== 'status') return answer(deps, call, 'Try /hearth status.');
  const res = deps.ctx.commands.status(inv(deps, call));
  await answer(deps, call, res.ok ? statusText(res.value) : `⚠️ ${problemText(res.error)}`);
}

/** `/hearth knowledge status` and `/hearth knowledge drop channel:` (admins; this server's channels only). */
async function knowledge(deps: HandlerDeps, call: Call, sub: 'knowledge status' | 'knowledge drop'): Promise<void> {
  const invo = inv(deps, call);
  if (sub === 'knowledge status') {
    const res = deps.ctx.commands.knowledge.status(invo);
    return answer(deps, call, res.ok ? knowledgeStatusMessage(res.value, deps.ctx.clock.now()) : `⚠️ ${problemText(res.error)}`);
  }
  const channel = call.opts.channel('channel') ?? '';
  const res = deps.ctx.commands.knowledge.drop(invo, channel);
  await answer(deps, call, res.ok ? knowledgeDroppedText(res.value) : `⚠️ ${problemText(res.error)}`);
}
