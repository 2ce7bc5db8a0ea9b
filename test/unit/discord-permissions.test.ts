/** Discord's permission rules as workspace knowledge applies them: who may read an indexed channel's history. */
import { describe, expect, test } from 'vitest';
import { canReadHistory, channelPermissions, DiscordPermission as P } from '../../src/knowledge/discord-permissions.js';
import type { DiscordGuildAccess, DiscordOverwriteJson } from '../../src/knowledge/discord-messages.js';

const GUILD = '100';
const STAFF = '200';
const MUTED = '300';
const READ = P.ViewChannel | P.ReadMessageHistory;

const guild = (everyone: bigint, extra: Array<[string, bigint]> = []): DiscordGuildAccess => ({
  ownerId: '1',
  roles: [{ id: GUILD, permissions: String(everyone) }, ...extra.map(([id, p]) => ({ id, permissions: String(p) }))],
});
const ow = (id: string, type: 0 | 1, allow: bigint, deny: bigint): DiscordOverwriteJson => ({ id, type, allow: String(allow), deny: String(deny) });
const reads = (g: DiscordGuildAccess, overwrites: DiscordOverwriteJson[], user: string, roles: string[]) =>
  canReadHistory(channelPermissions(GUILD, g, { permission_overwrites: overwrites }, user, roles));

describe('who can read a Discord channel', () => {
  test('@everyone rights open a channel without overwrites; View Channel alone is not enough', () => {
    expect(reads(guild(READ), [], '9', [])).toBe(true);
    expect(reads(guild(P.ViewChannel), [], '9', [])).toBe(false);
  });

  test('a channel hidden from @everyone is open to a role allowed in it, and closed to the rest', () => {
    const hidden = [ow(GUILD, 0, 0n, P.ViewChannel), ow(STAFF, 0, P.ViewChannel, 0n)];
    expect(reads(guild(READ), hidden, '9', [])).toBe(false);
    expect(reads(guild(READ), hidden, '9', [STAFF])).toBe(true);
  });

  test('a role deny loses to another role allow; a member overwrite beats both', () => {
    const g = guild(READ, [[STAFF, 0n], [MUTED, 0n]]);
    const roles = [ow(MUTED, 0, 0n, P.ViewChannel), ow(STAFF, 0, P.ViewChannel, 0n)];
    expect(reads(g, roles, '9', [STAFF, MUTED])).toBe(true);
    expect(reads(g, [...roles, ow('9', 1, 0n, P.ViewChannel)], '9', [STAFF, MUTED])).toBe(false);
    expect(reads(g, [ow(GUILD, 0, 0n, P.ViewChannel), ow('9', 1, P.ViewChannel, 0n)], '9', [])).toBe(true);
  });

  test('the owner and administrators read everything, overwrites or not', () => {
    const hidden = [ow(GUILD, 0, 0n, READ), ow('9', 1, 0n, READ)];
    expect(reads(guild(0n), hidden, '1', [])).toBe(true);
    expect(reads(guild(0n, [[STAFF, P.Administrator]]), hidden, '9', [STAFF])).toBe(true);
    expect(reads(guild(0n, [[STAFF, P.Administrator]]), hidden, '9', [])).toBe(false);
  });
});
