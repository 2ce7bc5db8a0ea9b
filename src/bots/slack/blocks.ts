/** Block Kit pieces hearth's messages are made of. */
import { VARIATIONS } from '../../commands/image-choices.js';
import type { Block, SlackMessage } from './slack-api.js';
import { SECTION_CHARS, splitText } from './text.js';

export const CANCEL_ACTION = 'hearth_cancel';
export const REROLL_ACTION = 'hearth_reroll';
/** One action per variation preset (`hearth_vary_subtle`, `hearth_vary_strong`); the value is the job id. */
export const VARY_ACTIONS = VARIATIONS.map((v) => ({ action: `hearth_vary_${v.id}` as const, variation: v }));
type VaryAction = (typeof VARY_ACTIONS)[number]['action'];

export interface Button {
  action: typeof CANCEL_ACTION | typeof REROLL_ACTION | VaryAction;
  label: string;
  /** The job id the button acts on. */
  jobId: string;
  style?: 'primary' | 'danger';
}

export const cancelButton = (jobId: string): Button => ({ action: CANCEL_ACTION, label: 'Cancel', jobId, style: 'danger' });
export const rerollButton = (jobId: string): Button => ({ action: REROLL_ACTION, label: 'Reroll', jobId, style: 'primary' });
/** The Vary buttons of a finished image, one per variation preset. */
export const varyButtons = (jobId: string): Button[] => VARY_ACTIONS.map((v) => ({ action: v.action, label: v.variation.label, jobId }));

function actions(buttons: readonly Button[]): Block {
  return {
    type: 'actions',
    elements: buttons.map((b) => ({
      type: 'button',
      action_id: b.action,
      value: b.jobId,
      text: { type: 'plain_text', text: b.label },
      ...(b.style ? { style: b.style } : {}),
    })),
  };
}

/**
 * A message of mrkdwn text (already escaped) in as many sections as it needs, then an optional
 * small-print line and buttons.
 */
export function textMessage(mrkdwn: string, opts: { footer?: string; buttons?: readonly Button[] } = {}): SlackMessage {
  const blocks: Block[] = [];
  if (mrkdwn.length > 0) {
    for (const piece of splitText(mrkdwn, SECTION_CHARS)) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: piece } });
  }
  if (opts.footer) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: opts.footer.slice(0, SECTION_CHARS) }] });
  if (opts.buttons && opts.buttons.length > 0) blocks.push(actions(opts.buttons));
  const fallback = [mrkdwn, opts.footer].filter(Boolean).join('\n');
  return { text: fallback.length > 0 ? fallback : ' ', blocks };
}

/** A one-line progress bar, e.g. ▰▰▰▱▱▱▱▱▱▱. */
export function progressBar(step: number, of: number, width = 10): string {
  const filled = of > 0 ? Math.max(0, Math.min(width, Math.round((step / of) * width))) : 0;
  return '▰'.repeat(filled) + '▱'.repeat(width - filled);
}
