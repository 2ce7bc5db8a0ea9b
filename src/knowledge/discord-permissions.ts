/**
 * Whether a guild member can read a channel's history, computed as Discord computes permissions
 * (docs: "Permissions → Permission Overwrites"): the @everyone role and the member's roles give the
 * base; the guild owner and ADMINISTRATOR see everything; then the channel's overwrites apply in
 * order: @everyone's, the member's roles' (all denies, then all allows), the member's own.
 */
import type { DiscordChannelJson, DiscordGuildAccess } from './discord-messages.js';

/** Discord's permission bits used here. */
export const DiscordPermission = {
  Administrator: 1n << 3n,
  ViewChannel: 1n << 10n,
  ReadMessageHistory: 1n << 16n,
} as const;

/** What reading a channel's past messages takes. */
export const READ_HISTORY = DiscordPermission.ViewChannel | DiscordPermission.ReadMessageHistory;

function bits(s: string | undefined): bigint {
  try {
    return s ? BigInt(s) : 0n;
  } catch {
    return 0n;
  }
}

/** The member's permissions in `channel` (all bits for the owner and administrators). */
export function channelPermissions(guildId: string, guild: DiscordGuildAccess, channel: Pick<DiscordChannelJson, 'permission_overwrites'>, user: string, memberRoles: readonly string[]): bigint {
  const ALL = (1n << 64n) - 1n;
  if (guild.ownerId === user) return ALL;
  const roles = new Map(guild.roles.map((r) => [r.id, bits(r.permissions)]));
  let perms = roles.get(guildId) ?? 0n;
  for (const r of memberRoles) perms |= roles.get(r) ?? 0n;
  if ((perms & DiscordPermission.Administrator) !== 0n) return ALL;
  const overwrites = channel.permission_overwrites ?? [];
  const everyone = overwrites.find((o) => o.id === guildId);
  if (everyone) perms = (perms & ~bits(everyone.deny)) | bits(everyone.allow);
  let allow = 0n;
  let deny = 0n;
  for (const o of overwrites) {
    if (o.type === 0 && o.id !== guildId && memberRoles.includes(o.id)) {
      allow |= bits(o.allow);
      deny |= bits(o.deny);
    }
  }
  perms = (perms & ~deny) | allow;
  const own = overwrites.find((o) => o.type === 1 && o.id === user);
  if (own) perms = (perms & ~bits(own.deny)) | bits(own.allow);
  return perms;
}

/** True when the permissions let one read the channel's history. */
export function canReadHistory(perms: bigint): boolean {
  return (perms & READ_HISTORY) === READ_HISTORY;
}
