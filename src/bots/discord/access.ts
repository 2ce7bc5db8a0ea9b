import type { HearthConfig } from '../../config/schema.js';

/** Who is acting and where, as read from an interaction or a message. */
export interface Actor {
  userId: string;
  userName: string;
  roles: readonly string[];
  guildId: string | null;
  channelId: string;
  /** The channel a thread belongs to (allowlists name channels, not their threads). */
  parentId: string | null;
  isDm: boolean;
  isThread: boolean;
}

export type Access = { ok: true; admin: boolean; weight: number } | { ok: false; reason: string };

const LIST_MAX = 5;

/**
 * Allowlists and roles. Admins (`adminUsers`, `adminRoles`) are let in everywhere. In a DM there are no
 * server, channels or roles to check, so DMs are open only while none of `allowedGuilds`,
 * `allowedChannels` and `allowedRoles` is set (a DM would otherwise bypass them: anyone in any server
 * the bot shares can DM it). `discord.allowDMs` decides for itself when set.
 */
export function checkAccess(config: HearthConfig, actor: Actor): Access {
  const d = config.discord;
  const admin = d.adminUsers.includes(actor.userId) || actor.roles.some((r) => d.adminRoles.includes(r));
  const weight = weightOf(config, actor.roles, admin);
  if (admin) return { ok: true, admin, weight };
  if (actor.isDm) {
    if (!dmsOpen(config)) {
      return { ok: false, reason: "hearth doesn't answer in DMs here. Use it in one of the server's channels." };
    }
    return { ok: true, admin, weight };
  }
  if (d.allowedGuilds.length > 0 && (actor.guildId === null || !d.allowedGuilds.includes(actor.guildId))) {
    return { ok: false, reason: "hearth isn't enabled on this server." };
  }
  if (d.allowedChannels.length > 0 && !d.allowedChannels.includes(actor.channelId) && !(actor.parentId && d.allowedChannels.includes(actor.parentId))) {
    const where = d.allowedChannels.slice(0, LIST_MAX).map((c) => `<#${c}>`).join(', ');
    return { ok: false, reason: `hearth doesn't answer in this channel. Try ${where}${d.allowedChannels.length > LIST_MAX ? ' or another allowed channel' : ''}.` };
  }
  if (d.allowedRoles.length > 0 && !actor.roles.some((r) => d.allowedRoles.includes(r))) {
    const roles = d.allowedRoles.slice(0, LIST_MAX).map((r) => `<@&${r}>`).join(', ');
    return { ok: false, reason: `You need one of these roles to use hearth: ${roles}.` };
  }
  return { ok: true, admin, weight };
}

/** Whether people who are not admins may use hearth in a DM. */
export function dmsOpen(config: HearthConfig): boolean {
  const d = config.discord;
  return d.allowDMs ?? (d.allowedGuilds.length === 0 && d.allowedChannels.length === 0 && d.allowedRoles.length === 0);
}

/** The largest weight among the user's roles (1 with none listed); admins get at least `adminWeight`. */
export function weightOf(config: HearthConfig, roles: readonly string[], admin: boolean): number {
  const table = config.limits.roleWeights;
  let weight: number | undefined;
  for (const r of roles) {
    const w = table[r];
    if (w !== undefined) weight = Math.max(weight ?? 0, w);
  }
  const base = weight ?? 1;
  return admin ? Math.max(base, config.limits.adminWeight) : base;
}
