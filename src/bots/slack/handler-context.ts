import type { AskInput, HearthCommands, ImagineInput } from '../../commands/hearth-commands.js';
import { slackErrorText } from './error-text.js';
import { imageModelSummary } from '../../jobs/image-model.js';
import type { ImagineHelpLimits } from './imagine-flags.js';
import type { HearthConfig } from '../../config/schema.js';
import type { AdapterJobs } from '../adapter.js';
import type { SlackKnowledge } from '../../knowledge/slack-knowledge.js';
import type { SlackAccess } from './access.js';
import { textMessage } from './blocks.js';
import type { SlackOrigin } from './origin.js';
import type { SeenEvents } from './seen-events.js';
import type { SlackApi } from './slack-api.js';

/** What the Slack handlers share. */
export interface HandlerContext {
  api: SlackApi;
  commands: HearthCommands;
  jobs: AdapterJobs;
  access: SlackAccess;
  seen: SeenEvents;
  config: HearthConfig;
  report(error: unknown, where: string): void;
  /** Ends a command's view without showing more (its status message is being removed). */
  dropView(origin: SlackOrigin): Promise<void>;
  /** Deliveries dropped as repeats (Slack retries, a message seen twice). */
  stats: { duplicates: number };
  /** Workspace knowledge of the indexed channels, when configured: message events keep it current. */
  knowledge?: SlackKnowledge;
}

/** True when none of the keys was seen before (and marks them all seen); counts a repeat. */
export function fresh(h: HandlerContext, ...keys: string[]): boolean {
  let first = true;
  for (const k of keys) if (!h.seen.firstTime(k)) first = false;
  if (!first) h.stats.duplicates++;
  return first;
}

export const SORRY = "Sorry, something went wrong on hearth's side. The admin can find the details in the log.";

/** Tells someone what went wrong; a failure to tell is reported, never thrown. */
export type Tell = (text: string) => Promise<void>;

/**
 * Runs a handler; anything it throws goes to reportError and the person gets a plain sentence
 * instead of Slack's "the app did not respond".
 */
export async function guarded(h: HandlerContext, where: string, tell: Tell, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    h.report(e, `slack ${where}`);
    await tell(SORRY).catch((e2: unknown) => h.report(e2, `slack ${where}: telling the user`));
  }
}

type NewOrigin = Omit<SlackOrigin, 'status'>;

async function withStatus(h: HandlerContext, origin: NewOrigin): Promise<SlackOrigin> {
  const status = await h.api.post(origin.channel, textMessage('_Getting in line…_'), origin.thread);
  return { ...origin, status };
}

async function removeQuietly(h: HandlerContext, channel: string, ts: string | undefined): Promise<void> {
  if (!ts) return;
  await h.api.remove(channel, ts).catch((e: unknown) => h.report(e, 'slack: removing a message'));
}

/**
 * Posts the status message (its ts goes into the job's origin, so even after a restart the job
 * finds it), then queues the chat. A refusal removes what was posted and is told to the person
 * privately.
 */
export async function startChat(h: HandlerContext, origin: NewOrigin, input: AskInput, tell: Tell, opts: { userName?: string; root?: string } = {}): Promise<void> {
  const full = await withStatus(h, origin);
  const res = await h.commands.ask(input, h.access.invocation(full, opts.userName ? { userName: opts.userName } : {}));
  if (!res.ok) {
    // Images described for a refused question are cancelled with it; their view goes with the message.
    await h.dropView(full);
    await removeQuietly(h, origin.channel, full.status);
    await removeQuietly(h, origin.channel, opts.root);
    await tell(slackErrorText(res.error));
  }
}

/** What `/imagine help` shows: the commands' image limits, the byte cap of an image to start from, the model in words. */
export function helpLimits(h: HandlerContext): ImagineHelpLimits {
  const rules = h.commands.imageModel;
  const out: ImagineHelpLimits = { ...h.commands.limits.image, maxImageBytes: h.config.files.maxBytes };
  if (rules) {
    const first = imageModelSummary(rules).split('\n')[0];
    if (rules.profile && first) out.model = first;
  }
  return out;
}

/** What an image is made from: /imagine's options, a Reroll of a job, or a Vary of a job's picture at a strength. */
export type ImageRequest = { input: ImagineInput } | { reroll: string } | { vary: string; strength: number };

/**
 * Like {@link startChat} for an image: `input` (with an image to start from, downloaded by the
 * command), `reroll` (a job's options, a new seed) or `vary` (a variation of a job's picture).
 */
export async function startImage(h: HandlerContext, origin: NewOrigin, what: ImageRequest, tell: Tell, opts: { userName?: string; root?: string } = {}): Promise<void> {
  const full = await withStatus(h, origin);
  const inv = h.access.invocation(full, { conversation: false, ...(opts.userName ? { userName: opts.userName } : {}) });
  const res = 'reroll' in what ? h.commands.reroll(what.reroll, inv) : 'vary' in what ? h.commands.vary(what.vary, what.strength, inv) : await h.commands.imagineFrom(what.input, inv);
  if (!res.ok) {
    await h.dropView(full);
    await removeQuietly(h, origin.channel, full.status);
    await removeQuietly(h, origin.channel, opts.root);
    await tell(slackErrorText(res.error));
  }
}
