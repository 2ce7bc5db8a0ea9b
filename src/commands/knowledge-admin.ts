/**
 * `/hearth knowledge status` and `/hearth knowledge drop <channel>` (admins), defined once for every
 * platform: what workspace knowledge holds for the admin's own workspace (Slack team, Discord server)
 * — channels, message counts, last sync, how many messages have vectors and whether search by meaning
 * is on at all — and forgetting one channel's index. Never another workspace's channels, not even for
 * an admin. What is shown is decided here ({@link KnowledgeStatusView}, {@link knowledgeStatusLines});
 * the adapters only lay it out for their platform.
 */
import { basename } from 'node:path';
import { err, ok, type Result } from '../engine/types.js';
import type { ChannelRef, ChannelStats, KnowledgePlatform, KnowledgeStats } from '../knowledge/types.js';
import type { Invocation } from './invocation.js';

/** What the admin commands need of the index (MessageIndex has it). */
export interface KnowledgeIndexAdmin {
  stats(): KnowledgeStats;
  dropChannel(ref: ChannelRef): number;
}

/** What the status needs of search by meaning, when `models.embedding` is configured (VectorIndex has it). */
export interface KnowledgeVectorsAdmin {
  /** The embedding model's folder (`models.embedding.dir`, resolved). */
  readonly model: string;
  /** Messages with a vector, per channel of a workspace (channels with none absent). */
  channelVectorCounts(platform: KnowledgePlatform, workspace: string): Map<string, number>;
}

/** Search by meaning as the status shows it: on with its model, or off (full-text search only). */
export type SemanticStatusView =
  | { on: false }
  | {
      on: true;
      /** The model's name (its folder's name) and folder. */
      model: string;
      dir: string;
      /** Messages of this workspace's indexed channels that have a vector (the others wait for an embed job). */
      vectors: number;
    };

/** One indexed channel as the status shows it. */
export interface KnowledgeChannelView {
  channel: string;
  name?: string;
  messages: number;
  /** Of those, how many have a vector (only with search by meaning on). */
  vectors?: number;
  /** The whole history has been read (afterwards only new messages are). */
  backfilled: boolean;
  private: boolean;
  lastSyncAt?: number;
  /** Still listed in the config: it is read again at the next start, even after a drop. */
  configured: boolean;
}

export interface KnowledgeStatusView {
  /** Channels the config names for this platform (0: knowledge is off here). */
  configuredChannels: number;
  channels: KnowledgeChannelView[];
  messages: number;
  lastSyncAt?: number;
  semantic: SemanticStatusView;
}

export interface KnowledgeDropped {
  channel: string;
  name?: string;
  messages: number;
  /** Still in the config: it will be read again at the next start. */
  configured: boolean;
}

/** The workspace the invocation acts in, on a platform with knowledge (Slack, Discord). */
function scope(inv: Invocation): { platform: KnowledgePlatform; workspace: string } | undefined {
  if ((inv.platform !== 'slack' && inv.platform !== 'discord') || !inv.workspaceId) return undefined;
  return { platform: inv.platform, workspace: inv.workspaceId };
}

export class KnowledgeAdmin {
  readonly #index: KnowledgeIndexAdmin | undefined;
  readonly #configured: Readonly<Record<KnowledgePlatform, readonly string[]>>;
  readonly #vectors: KnowledgeVectorsAdmin | undefined;

  constructor(index: KnowledgeIndexAdmin | undefined, configured: Readonly<Record<KnowledgePlatform, readonly string[]>>, vectors?: KnowledgeVectorsAdmin) {
    this.#index = index;
    this.#configured = configured;
    this.#vectors = vectors;
  }

  status(inv: Invocation): Result<KnowledgeStatusView> {
    if (!inv.admin) return err({ code: 'FORBIDDEN', message: 'only hearth admins can see what is indexed', facts: {} });
    const where = scope(inv);
    const configured = where ? this.#configured[where.platform] : [];
    const channels = where && this.#index ? this.#channels(where) : [];
    const last = Math.max(0, ...channels.map((c) => c.lastSyncAt ?? 0));
    const counts = where && this.#vectors ? this.#vectors.channelVectorCounts(where.platform, where.workspace) : undefined;
    const views = channels.map((c) => view(c, configured, counts));
    const semantic: SemanticStatusView = this.#vectors
      ? { on: true, model: basename(this.#vectors.model), dir: this.#vectors.model, vectors: views.reduce((n, c) => n + (c.vectors ?? 0), 0) }
      : { on: false };
    return ok({
      configuredChannels: configured.length,
      channels: views,
      messages: channels.reduce((n, c) => n + c.messages, 0),
      ...(last > 0 ? { lastSyncAt: last } : {}),
      semantic,
    });
  }

  /** Forgets a channel's messages and sync state (only a channel indexed in the admin's own workspace). */
  drop(inv: Invocation, channel: string): Result<KnowledgeDropped> {
    if (!inv.admin) return err({ code: 'FORBIDDEN', message: 'only hearth admins can drop a channel from the index', facts: { given: channel } });
    const where = scope(inv);
    const channels = where && this.#index ? this.#channels(where) : [];
    const found = channels.find((c) => c.channel === channel);
    if (!where || !this.#index || !found) {
      const known = channels.map((c) => c.channel);
      const listed = known.length > 0 ? `; indexed here: ${known.slice(0, 10).join(', ')}${known.length > 10 ? ', …' : ''}` : '; nothing is indexed here';
      return err({ code: 'NOT_FOUND', message: `channel ${channel} is not in this workspace's index${listed}`, facts: { given: channel } });
    }
    const messages = this.#index.dropChannel(found);
    return ok({ channel, ...(found.name ? { name: found.name } : {}), messages, configured: this.#configured[where.platform].includes(channel) });
  }

  #channels(where: { platform: KnowledgePlatform; workspace: string }): ChannelStats[] {
    return (this.#index?.stats().channels ?? []).filter((c) => c.platform === where.platform && c.workspace === where.workspace);
  }
}

function view(c: ChannelStats, configured: readonly string[], vectors: Map<string, number> | undefined): KnowledgeChannelView {
  return {
    channel: c.channel,
    ...(c.name ? { name: c.name } : {}),
    messages: c.messages,
    // A message dropped meanwhile can't leave more vectors than messages; cap all the same.
    ...(vectors ? { vectors: Math.min(c.messages, vectors.get(c.channel) ?? 0) } : {}),
    backfilled: c.backfilledAt !== undefined,
    private: c.private === true,
    ...(c.lastSyncAt !== undefined ? { lastSyncAt: c.lastSyncAt } : {}),
    configured: configured.includes(c.channel),
  };
}

/**
 * The status in lines, the same words on every platform (`<#id>` is a channel link on Slack and Discord
 * alike): a headline, whether search by meaning is on and how far its vectors are, then one line per
 * channel. `now` dates the last sync ("3 min ago"). The adapters lay the lines out (and fit them to
 * their platform's message size).
 */
export function knowledgeStatusLines(v: KnowledgeStatusView, now: number): string[] {
  if (v.configuredChannels === 0 && v.channels.length === 0) return ['Workspace knowledge is off here: the config lists no channels to index for this platform.'];
  const head = `Workspace knowledge: ${count(v.messages, 'message')} in ${count(v.channels.length, 'channel')}${v.lastSyncAt ? `, last synced ${ago(now - v.lastSyncAt)}` : ''}.`;
  const lines = v.channels.map((c) => {
    const state = c.backfilled ? 'history read' : 'reading history';
    const vectors = c.vectors !== undefined ? `, ${c.vectors} with vectors` : '';
    const extra = [c.private ? 'private' : '', c.configured ? '' : 'not in the config any more'].filter(Boolean).join(', ');
    return `• <#${c.channel}>: ${count(c.messages, 'message')}${vectors}, ${state}${c.lastSyncAt ? `, synced ${ago(now - c.lastSyncAt)}` : ''}${extra ? ` (${extra})` : ''}`;
  });
  if (v.channels.length === 0) lines.push('Nothing has been read here yet.');
  return [head, semanticLine(v), ...lines];
}

function semanticLine(v: KnowledgeStatusView): string {
  const s = v.semantic;
  if (!s.on) return 'Search by meaning: off: full text only (no models.embedding.dir; `hearth models pull --defaults` downloads one).';
  if (v.messages === 0) return `Search by meaning: on, with ${s.model} (${s.dir}).`;
  const waiting = v.messages - s.vectors;
  const progress = waiting > 0 ? `${s.vectors} of ${count(v.messages, 'message')} have vectors (${waiting} waiting)` : `all ${count(v.messages, 'message')} have vectors`;
  return `Search by meaning: on, with ${s.model} (${s.dir}): ${progress}.`;
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/**
 * The status lines joined into one message of at most `maxChars` (a platform's message size): the
 * headline and the search line always, then as many channel lines as fit, and a last line naming how
 * many channels were left out. Cut at line ends, never inside a channel link.
 */
export function fitKnowledgeStatus(lines: readonly string[], maxChars: number): string {
  const [head = '', search, ...channels] = lines;
  let out = search === undefined ? head : `${head}\n${search}`;
  for (let i = 0; i < channels.length; i++) {
    const more = channels.length - i - 1;
    const line = `\n${channels[i]!}`;
    // Room for this line and, when more follow, for the line that says how many were left out.
    const tail = more > 0 ? `\n…and ${count(more, 'more channel')}` : '';
    if (out.length + line.length + tail.length > maxChars) {
      return `${out}\n…and ${count(channels.length - i, 'more channel')}`.slice(0, maxChars);
    }
    out += line;
  }
  return out.slice(0, maxChars);
}

/** What a drop did, in words. */
export function knowledgeDroppedText(d: KnowledgeDropped): string {
  const what = `Dropped <#${d.channel}> from the index (${d.messages} message${d.messages === 1 ? '' : 's'}).`;
  return d.configured
    ? `${what} It is still in the config, so new messages are indexed again and its history is read again at the next start; remove it from the knowledge channels to keep it out.`
    : what;
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} days ago`;
}
