import { ButtonStyle, ComponentType, type APIActionRowComponent, type APIComponentInMessageActionRow } from 'discord.js';
import { queuedText } from '../../commands/wording.js';
import { problemText } from './words.js';
import type { ErrorInfo, JobResult } from '../../engine/types.js';
import type { DiscordCommand } from './origin.js';
import type { OutMessage } from './rest-client.js';
import { CHUNK_LIMIT, MESSAGE_LIMIT, decorateChunks, splitText } from './split.js';

export type ButtonAction = 'cancel' | 'reroll' | 'delete';

const PREFIX = 'hearth';

export function buttonId(action: ButtonAction, jobId: string): string {
  return `${PREFIX}:${action}:${jobId}`;
}

export function parseButtonId(customId: string): { action: ButtonAction; jobId: string } | null {
  const m = /^hearth:(cancel|reroll|delete):([\w-]{1,80})$/.exec(customId);
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

/** The options an image was made with, as the command stored them. */
export interface ImageOptions {
  prompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  steps: number;
  guidance: number;
  seed: number;
  scheduler: string;
}

/** What a job's messages show; the view keeps it up to date from the engine's events. */
export interface ViewState {
  command: DiscordCommand;
  phase: 'waiting' | 'queued' | 'running' | 'done' | 'cancelled' | 'failed';
  jobId?: string;
  queued?: { position: number; etaSeconds: number };
  /** Status of a helper job (the description of an image attached to /ask). */
  aux?: string;
  progress?: { step: number; of: number };
  text: string;
  preview?: { png: Uint8Array; step: number };
  result?: JobResult;
  stoppedBy?: 'owner' | 'other';
  error?: ErrorInfo;
  image?: ImageOptions;
  question?: string;
  /** Largest upload the channel takes, bytes. */
  maxUploadBytes?: number;
}

/** The messages a state shows: index 0 is the reply, the rest continue it. */
export function render(s: ViewState): OutMessage[] {
  if (s.phase === 'failed') return renderFailed(s);
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
  if (s.aux) return s.aux;
  if (s.phase === 'queued' && s.queued) return `⏳ ${queuedText(s.queued.position, s.queued.etaSeconds)}`;
  return '⏳ On its way…';
}

function renderChat(s: ViewState): OutMessage[] {
  if (s.phase === 'waiting' || s.phase === 'queued' || (s.phase === 'running' && s.text === '')) {
    const line = s.phase === 'running' ? '✍️ Thinking…' : waitingLine(s);
    return [{ content: line, components: cancelRow(s, 'Stop') }];
  }
  if (s.phase === 'running') {
    const pieces = decorateChunks(splitText(s.text));
    return pieces.map((p, i) => {
      const last = i === pieces.length - 1;
      return { content: last ? `${p} ▌` : p, components: last ? cancelRow(s, 'Stop') : [] };
    });
  }
  let text = s.phase === 'done' ? (s.result?.text ?? s.text) : (s.result?.text ?? s.text);
  if (s.phase === 'done') {
    if (text.trim() === '') text = '*(The model gave an empty answer. Try asking another way.)*';
    else if (s.result?.stopReason === 'maxTokens') text += '\n\n*(The answer reached its length limit and was cut off here.)*';
  } else {
    const who = s.stoppedBy === 'other' ? 'Stopped by an admin' : 'Stopped';
    text = text.trim() === '' ? `${who} before the answer began.` : `${text}\n\n*(${who.toLowerCase()}.)*`;
  }
  return decorateChunks(splitText(text)).map((p) => ({ content: p, components: [] }));
}

function header(opts: ImageOptions | undefined): string {
  return opts ? `🎨 **${clip(opts.prompt, 300)}**` : '🎨';
}

export function bar(step: number, of: number): string {
  const cells = 10;
  const filled = of > 0 ? Math.max(0, Math.min(cells, Math.round((step / of) * cells))) : 0;
  return '▰'.repeat(filled) + '▱'.repeat(cells - filled);
}

export function optionsLine(o: ImageOptions): string {
  const line = `seed \`${o.seed}\` · ${o.width}×${o.height} · ${o.steps} steps · guidance ${o.guidance} · ${o.scheduler}`;
  return o.negativePrompt ? `${line}\nnegative: ${clip(o.negativePrompt, 300)}` : line;
}

function renderImage(s: ViewState): OutMessage {
  const h = header(s.image);
  switch (s.phase) {
    case 'waiting':
    case 'queued':
      return { content: `${h}\n${waitingLine(s)}`, components: cancelRow(s, 'Cancel') };
    case 'running': {
      const line = s.progress ? `${bar(s.progress.step, s.progress.of)} step ${s.progress.step} of ${s.progress.of}` : 'Starting…';
      const m: OutMessage = { content: `${h}\n${line}`, components: cancelRow(s, 'Cancel') };
      if (s.preview) m.files = [{ name: 'preview.png', data: s.preview.png, description: `preview at step ${s.preview.step}` }];
      return m;
    }
    case 'cancelled':
      return { content: `${h}\n${s.stoppedBy === 'other' ? 'Cancelled by an admin.' : 'Cancelled.'}`, components: [], clearAttachments: true };
    default:
      return renderImageDone(s);
  }
}

function renderImageDone(s: ViewState): OutMessage {
  const img = s.result?.image;
  const o = s.image;
  if (!img) return { content: `${header(o)}\n⚠️ The image job finished without an image. The admin can find the details in the log.`, components: [] };
  const limit = s.maxUploadBytes ?? 10 * 1024 * 1024;
  if (img.png.byteLength > limit) {
    return { content: `${header(o)}\n⚠️ The image is ${mb(img.png.byteLength)}, more than this channel accepts (${mb(limit)}). Try a smaller size.`, components: [] };
  }
  const content = o ? `**${clip(o.prompt, 1200)}**\n${optionsLine(o)}` : '🎨';
  const buttons: Row[] = s.jobId
    ? [
        row(
          { action: 'reroll', jobId: s.jobId, label: 'Reroll', style: ButtonStyle.Primary },
          { action: 'delete', jobId: s.jobId, label: 'Delete', style: ButtonStyle.Danger },
        ),
      ]
    : [];
  const name = `hearth-${o?.seed ?? 'image'}.png`;
  return { content: clip(content, MESSAGE_LIMIT), files: [{ name, data: img.png, description: clip(o?.prompt ?? 'hearth image', 1000) }], components: buttons };
}

function renderCaption(s: ViewState): OutMessage {
  const q = s.question ? `**Q:** ${clip(s.question, 300)}\n` : '';
  switch (s.phase) {
    case 'waiting':
    case 'queued':
      return { content: `${q}${waitingLine(s)}`, components: cancelRow(s, 'Cancel') };
    case 'running':
      return { content: `${q}👀 Looking at the image…`, components: cancelRow(s, 'Cancel') };
    case 'cancelled':
      return { content: `${q}${s.stoppedBy === 'other' ? 'Cancelled by an admin.' : 'Cancelled.'}`, components: [] };
    default: {
      const text = (s.result?.text ?? s.text).trim() || '*(no description)*';
      return { content: clip(`${q}📝 ${text}`, MESSAGE_LIMIT), components: [] };
    }
  }
}

function renderFailed(s: ViewState): OutMessage[] {
  const words = s.error ? problemText(s.error) : 'Sorry, something went wrong.';
  if (s.command === 'ask' && s.text.trim() !== '') {
    return decorateChunks(splitText(`${s.text}\n\n⚠️ ${words}`)).map((p) => ({ content: p, components: [] }));
  }
  return [{ content: clip(`⚠️ ${words}`, CHUNK_LIMIT), components: [], clearAttachments: true }];
}

export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function mb(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
