import type { GatewayMessageCreateDispatchData } from 'discord.js';
import { checkAccess, type Actor } from './access.js';
import { discordFailure } from './errors.js';
import { conversationOf, invocation, type HandlerDeps } from './handler-deps.js';
import type { DiscordOrigin } from './origin.js';
import { attachmentProblem } from './text.js';
import { problemText } from './words.js';

const IMAGE_NAME = /\.(png|jpe?g|webp|gif)$/i;

/**
 * A message that continues a conversation: any message in a DM with the bot, or one that mentions the
 * bot in a hearth thread. The answer is a reply posted first (so its id is stored with the job and a
 * restart still finds it) and then edited as the answer streams. Images in the message go to the chat.
 */
export async function handleMessage(deps: HandlerDeps, m: GatewayMessageCreateDispatchData): Promise<void> {
  const botId = deps.botUserId();
  if (m.author.bot || m.author.id === botId || m.webhook_id) return;
  const isDm = !m.guild_id;
  let parentId: string | null = null;
  if (!isDm) {
    if (!m.mentions.some((u) => u.id === botId)) return;
    const thread = await deps.threads.lookup(m.channel_id);
    if (!thread) return;
    parentId = thread.parentId;
  }
  const actor: Actor = {
    userId: m.author.id,
    userName: m.author.global_name ?? m.author.username,
    roles: m.member?.roles ?? [],
    guildId: m.guild_id ?? null,
    channelId: m.channel_id,
    parentId,
    isDm,
    isThread: !isDm,
  };
  const reply = (content: string) => deps.rest.send(m.channel_id, { content, replyTo: m.id });
  const access = checkAccess(deps.ctx.config, actor);
  if (!access.ok) {
    await reply(`⚠️ ${access.reason}`);
    return;
  }
  const images = m.attachments.filter((a) => (a.content_type ? a.content_type.startsWith('image/') : IMAGE_NAME.test(a.filename)));
  for (const a of images) {
    const bad = attachmentProblem(a, deps.ctx.config.files.maxBytes);
    if (bad) {
      await reply(`⚠️ ${problemText(bad)}`);
      return;
    }
  }
  let prompt = m.content.replace(new RegExp(`<@!?${botId}>`, 'g'), '').trim();
  if (prompt === '' && images.length === 0) {
    await reply('Ask me something after the mention, and I’ll answer here.');
    return;
  }
  if (prompt === '') prompt = 'What is in this image?';
  let placeholder;
  try {
    placeholder = await reply('⏳ On its way…');
  } catch (e) {
    throw discordFailure(e, 'replying to a message');
  }
  const origin: DiscordOrigin = {
    platform: 'discord',
    command: 'ask',
    userId: actor.userId,
    channelId: m.channel_id,
    guildId: actor.guildId,
    ephemeral: false,
    message: { channelId: m.channel_id, messageId: placeholder.id },
  };
  const queued = await deps.ctx.commands.ask(
    { prompt, ...(images.length > 0 ? { imageUrls: images.map((a) => a.url) } : {}) },
    invocation(deps, actor, access, origin, conversationOf(actor)),
  );
  if (!queued.ok) deps.views.fail(origin, queued.error);
}
