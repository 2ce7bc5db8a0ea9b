/**
 * `/hearth knowledge status` and `/hearth knowledge drop <channel>` (admins), defined once for every
 * platform: what workspace knowledge holds for the admin's own workspace (Slack team, Discord server)
 * — channels, message counts, last sync — and forgetting one channel's index. Never another
 * workspace's channels, not even for an admin.
 */
import { err, ok, type Result } from '../engine/types.js';
import type { ChannelRef, ChannelStats, KnowledgePlatform, KnowledgeStats } from '../knowledge/types.js';
import type { Invocation } from './invocation.js';

/** What the admin commands need of the index (MessageIndex has it). */
export interface KnowledgeIndexAdmin {
  stats(): KnowledgeStats;
  dropChannel(ref: ChannelRef): number;
}

/** One indexed channel as the status shows it. */
export interface KnowledgeChannelView {
  channel: string;
  name?: string;
  messages: number;
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

  constructor(index: KnowledgeIndexAdmin | undefined, configured: Readonly<Record<KnowledgePlatform, readonly string[]>>) {
    this.#index = index;
    this.#configured = configured;
  }

  status(inv: Invocation): Result<KnowledgeStatusView> {
    if (!inv.admin) return err({ code: 'FORBIDDEN', message: 'only hearth admins can see what is indexed', facts: {} });
    const where = scope(inv);
    const configured = where ? this.#configured[where.platform] : [];
    const channels = where && this.#index ? this.#channels(where) : [];
    const last = Math.max(0, ...channels.map((c) => c.lastSyncAt ?? 0));
    return ok({
      configuredChannels: configured.length,
      channels: channels.map((c) => view(c, configured)),
      messages: channels.reduce((n, c) => n + c.messages, 0),
      ...(last > 0 ? { lastSyncAt: last } : {}),
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

function view(c: ChannelStats, configured: readonly string[]): KnowledgeChannelView {
  return {
    channel: c.channel,
    ...(c.name ? { name: c.name } : {}),
    messages: c.messages,
    backfilled: c.backfilledAt !== undefined,
    private: c.private === true,
    ...(c.lastSyncAt !== undefined ? { lastSyncAt: c.lastSyncAt } : {}),
    configured: configured.includes(c.channel),
  };
}

/**
 * The status in lines, the same on every platform: `<#id>` is a channel link on Slack and Discord
 * alike. `now` dates the last sync ("3 min ago").
 */
export function knowledgeStatusLines(v: KnowledgeStatusView, now: number): string[] {
  if (v.configuredChannels === 0 && v.channels.length === 0) return ['Workspace knowledge is off here: the config lists no channels to index for this platform.'];
  const head = `Workspace knowledge: ${v.messages} message${v.messages === 1 ? '' : 's'} in ${v.channels.length} channel${v.channels.length === 1 ? '' : 's'}${v.lastSyncAt ? `, last synced ${ago(now - v.lastSyncAt)}` : ''}.`;
  const lines = v.channels.map((c) => {
    const state = c.backfilled ? 'history read' : 'reading history';
    const extra = [c.private ? 'private' : '', c.configured ? '' : 'not in the config any more'].filter(Boolean).join(', ');
    return `• <#${c.channel}>: ${c.messages} message${c.messages === 1 ? '' : 's'}, ${state}${c.lastSyncAt ? `, synced ${ago(now - c.lastSyncAt)}` : ''}${extra ? ` (${extra})` : ''}`;
  });
  if (v.channels.length === 0) lines.push('Nothing has been read here yet.');
  return [head, ...lines];
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
