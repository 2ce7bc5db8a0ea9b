import type { Invocation } from '../../commands/invocation.js';
import type { HearthConfig } from '../../config/schema.js';
import { conversationIdOf, originToJson, type SlackOrigin } from './origin.js';

/** Why a request is turned away, in words for the person who sent it. */
export type Refusal = { ok: false; text: string; reason: 'team' | 'channel' } | { ok: true };

/**
 * Who may use hearth from Slack and with what standing: the workspace and channel allowlists
 * (empty = all), admins by Slack user id, and fair-share weights.
 */
export class SlackAccess {
  readonly #teams: ReadonlySet<string>;
  readonly #channels: ReadonlySet<string>;
  readonly #admins: ReadonlySet<string>;
  readonly #limits: HearthConfig['limits'];

  constructor(config: HearthConfig) {
    this.#teams = new Set(config.slack.allowedTeams);
    this.#channels = new Set(config.slack.allowedChannels);
    this.#admins = new Set(config.slack.adminUsers);
    this.#limits = config.limits;
  }

  /**
   * Whether a request from this workspace and channel is served. A DM with the app is always served
   * in an allowed workspace: `allowedChannels` names the shared channels hearth may speak in.
   */
  check(team: string | undefined, channel: string | undefined, dm: boolean): Refusal {
    if (this.#teams.size > 0 && (!team || !this.#teams.has(team))) {
      return { ok: false, reason: 'team', text: 'hearth is not enabled for this workspace. An admin can add it to slack.allowedTeams.' };
    }
    if (!dm && this.#channels.size > 0 && (!channel || !this.#channels.has(channel))) {
      return { ok: false, reason: 'channel', text: 'hearth is not enabled in this channel. Try a channel it is enabled in, or a direct message with the app.' };
    }
    return { ok: true };
  }

  isAdmin(user: string): boolean {
    return this.#admins.has(user);
  }

  /**
   * The invocation for a Slack user. Slack has no roles, so `limits.roleWeights` may name Slack user
   * ids (`U0123…`); admins get `limits.adminWeight`.
   */
  invocation(origin: SlackOrigin, opts: { userName?: string; conversation?: boolean } = {}): Invocation {
    const admin = this.isAdmin(origin.user);
    const weight = admin ? this.#limits.adminWeight : (this.#limits.roleWeights[origin.user] ?? 1);
    const inv: Invocation = {
      platform: 'slack',
      userId: `slack:${origin.user}`,
      admin,
      weight,
      channelId: origin.channel,
      workspaceId: origin.team,
      origin: originToJson(origin),
    };
    if (opts.userName) inv.userName = opts.userName;
    if (opts.conversation !== false) inv.conversationId = conversationIdOf(origin.team, origin.channel, origin.thread);
    return inv;
  }
}
