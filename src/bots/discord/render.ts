import { ButtonStyle, ComponentType, type APIActionRowComponent, type APIComponentInMessageActionRow } from 'discord.js';
import { waitText } from '../../commands/wording.js';
import { samplerLabel, VARIATIONS, variationById, type VariationId } from '../../commands/image-choices.js';
import type { ImagePayload } from '../../jobs/index.js';
import { problemText } from './words.js';
import type { ChatSource } from '../../jobs/chat.js';
import type { JobViewModel } from '../../views/job-view-model.js';
import { sourcesLine } from './sources.js';
import type { DiscordCommand } from './origin.js';
import type { OutMessage } from './rest-client.js';
import { CHUNK_LIMIT, MESSAGE_LIMIT, decorateChunks, splitText } from './split.js';

/** What a button does; `vary-<id>` makes a variation at that preset's strength ({@link VARIATIONS}). */
export type ButtonAction = 'cancel' | 'reroll' | 'delete' | `vary-${VariationId}`;

const PREFIX = 'hearth';

export function buttonId(action: ButtonAction, jobId: string): string {
  return `${PREFIX}:${action}:${jobId}`;
}

export function parseButtonId(customId: string): { action: ButtonAction; jobId: string } | null {
  const m = /^hearth:(cancel|reroll|delete|vary-[a-z]{1,20}):([\w-]{1,80})$/.exec(customId);
  if (m?.[1]?.startsWith('vary-') && !variationById(m[1].slice('vary-'.length))) return null;
  return m ? { action: m[1] as ButtonAction, jobId: m[2]! } : null;
}

type Row = APIActionRowComponent<APIComponentInMessageActionRow>;

type Style = ButtonStyle.Primary | ButtonStyle.Secondary | ButtonStyle.Success | ButtonStyle.Danger;

function row(...buttons: Array<{ action: ButtonAction; jobId: string; label: string; style: Style }>): Row {
  return {
    type: ComponentType.ActionRow,
    components: buttons.map((b) => ({ type: ComponentType.Button, style: b.style, label: b.label, custom_id: buttonId(b.action, b.jobId) })),
  };
}

/** What a command's messages show: the shared view (src/views) plus what only Discord needs. */
export interface ViewState {
  command: DiscordCommand;
  view: JobViewModel;
  jobId?: string;
  image?: ImagePayload;
  question?: string;
  /** Largest upload the channel takes, bytes. */
  maxUploadBytes?: number;
  /** False when the model cannot start from an image: a picture gets no Vary buttons. */
  vary?: boolean;
  /** The workspace messages an answer was given (knowledge): listed under it once it is done. */
  sources?: readonly ChatSource[];
}

/** The messages a state shows: index 0 is the reply, the rest continue it. */
export function render(s: ViewState): OutMessage[] {
  if (s.view.phase === 'failed') return renderFailed(s);
  switch (s.command) {
    case 'ask':
      return renderChat(s);
    case 'imagine':
      return [renderImage(s)];
    case 'caption':
      return [renderCaption(s)];
  }
}

function cancelRow(s: ViewState, label: string): Row[] {
  return s.jobId ? [row({ action: 'cancel', jobId: s.jobId, label, style: ButtonStyle.Secondary })] : [];
}

function waitingLine(s: ViewState): string {
  const v = s.view;
  const helper = v.helpers[0];
  if (helper) return `👀 Looking at your image first — ${helper.phase === 'running' ? 'now.' : lower(waitText(helper.queued))}`;
  if (v.phase === 'queued') return `⏳ ${waitText(v.queued)}`;
  return '⏳ On its way…';
}

function renderChat(s: ViewState): OutMessage[] {
  const v = s.view;
  if (v.phase === 'waiting' || v.phase === 'queued' || (v.phase === 'running' && v.text === '')) {
    const line = v.phase === 'running' ? '✍️ Thinking…' : waitingLine(s);
    return [{ content: line, components: cancelRow(s, 'Stop') }];
  }
  if (v.phase === 'running') {
    const pieces = decorateChunks(splitText(v.text));
    return pieces.map((p, i) => {
      const last = i === pieces.length - 1;
      return { content: last ? `${p} ▌` : p, components: last ? cancelRow(s, 'Stop') : [] };
    });
  }
  let text = v.result?.text ?? v.text;
  if (v.phase === 'done') {
    if (text.trim() === '') text = '*(The model gave an empty answer. Try asking another way.)*';
    else if (v.result?.stopReason === 'maxTokens') text += '\n\n*(The answer reached its length limit and was cut off here.)*';
    if (s.sources && s.sources.length > 0) text += `\n\n${sourcesLine(s.sources)}`;
  } else {
    const who = v.stopped && !v.stopped.byOwner ? 'Stopped by an admin' : 'Stopped';
    text = text.trim() === '' ? `${who} before the answer began.` : `${text}\n\n*(${who.toLowerCase()}.)*`;
  }
  return decorateChunks(splitText(text)).map((p) => ({ content: p, components: [] }));
}

function header(opts: ImagePayload | undefined, v?: JobViewModel): string {
  const h = opts ? `🎨 **${clip(opts.prompt, 300)}**` : '🎨';
  return v?.source ? `${h}\n🖼️ ${v.source.text}` : h;
}

export function bar(step: number, of: number): string {
  const cells = 10;
  const filled = of > 0 ? Math.max(0, Math.min(cells, Math.round((step / of) * cells))) : 0;
  return '▰'.repeat(filled) + '▱'.repeat(cells - filled);
}

export function optionsLine(o: ImagePayload): string {
  const line = `seed \`${o.seed}\` · ${o.width}×${o.height} · ${o.steps} steps · guidance ${o.guidance} · ${samplerLabel(o.scheduler)}`;
  return o.negativePrompt ? `${line}\nnegative: ${clip(o.negativePrompt, 300)}` : line;
}

function renderImage(s: ViewState): OutMessage {
  const h = header(s.image, s.view);
  const v = s.view;
  switch (v.phase) {
    case 'waiting':
    case 'queued':
      return { content: `${h}\n${waitingLine(s)}`, components: cancelRow(s, 'Cancel') };
    case 'running': {
      const line = v.progress ? `${bar(v.progress.step, v.progress.of)} step ${v.progress.step} of ${v.progress.of}` : 'Starting…';
      const m: OutMessage = { content: `${h}\n${line}`, components: cancelRow(s, 'Cancel') };
      if (v.preview) m.files = [{ name: 'preview.png', data: v.preview.png, description: `preview at step ${v.preview.step}` }];
      return m;
    }
    case 'cancelled':
      return { content: `${h}\n${cancelledText(v)}`, components: [], clearAttachments: true };
    default:
      return renderImageDone(s);
  }
}

function renderImageDone(s: ViewState): OutMessage {
  const img = s.view.result?.image;
  const o = s.image;
  if (!img) return { content: `${header(o, s.view)}\n⚠️ The image job finished without an image. The admin can find the details in the log.`, components: [] };
  const limit = s.maxUploadBytes ?? 10 * 1024 * 1024;
  if (img.png.byteLength > limit) {
    return { content: `${header(o, s.view)}\n⚠️ The image is ${mb(img.png.byteLength)}, more than this channel accepts (${mb(limit)}). Try a smaller size.`, components: [] };
  }
  const source = s.view.source ? `\n🖼️ ${s.view.source.text}` : '';
  const content = o ? `**${clip(o.prompt, 1200)}**\n${optionsLine(o)}${source}` : '🎨';
  const jobId = s.jobId;
  const buttons: Row[] = jobId
    ? [
        row(
          { action: 'reroll', jobId, label: 'Reroll', style: ButtonStyle.Primary },
          ...(s.vary === false ? [] : VARIATIONS).map((v) => ({ action: `vary-${v.id}` as const, jobId, label: v.label, style: ButtonStyle.Secondary as const })),
          { action: 'delete', jobId, label: 'Delete', style: ButtonStyle.Danger },
        ),
      ]
    : [];
  const name = `hearth-${o?.seed ?? 'image'}.png`;
  return { content: clip(content, MESSAGE_LIMIT), files: [{ name, data: img.png, description: clip(o?.prompt ?? 'hearth image', 1000) }], components: buttons };
}

function renderCaption(s: ViewState): OutMessage {
  const q = s.question ? `**Q:** ${clip(s.question, 300)}\n` : '';
  const v = s.view;
  switch (v.phase) {
    case 'waiting':
    case 'queued':
      return { content: `${q}${waitingLine(s)}`, components: cancelRow(s, 'Cancel') };
    case 'running':
      return { content: `${q}👀 Looking at the image…`, components: cancelRow(s, 'Cancel') };
    case 'cancelled':
      return { content: `${q}${cancelledText(v)}`, components: [] };
    default: {
      const text = (v.result?.text ?? v.text).trim() || '*(no description)*';
      return { content: clip(`${q}📝 ${text}`, MESSAGE_LIMIT), components: [] };
    }
  }
}

function renderFailed(s: ViewState): OutMessage[] {
  const v = s.view;
  const words = v.error ? problemText(v.error) : 'Sorry, something went wrong.';
  if (s.command === 'ask' && v.text.trim() !== '') {
    return decorateChunks(splitText(`${v.text}\n\n⚠️ ${words}`)).map((p) => ({ content: p, components: [] }));
  }
  return [{ content: clip(`⚠️ ${words}`, CHUNK_LIMIT), components: [], clearAttachments: true }];
}

function cancelledText(v: JobViewModel): string {
  return v.stopped && !v.stopped.byOwner ? 'Cancelled by an admin.' : 'Cancelled.';
}

function lower(s: string): string {
  return s.length > 0 ? s[0]!.toLowerCase() + s.slice(1) : s;
}

export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function mb(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
