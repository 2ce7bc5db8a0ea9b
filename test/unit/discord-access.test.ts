import { describe, expect, it } from 'vitest';
import { checkAccess, weightOf, type Actor } from '../../src/bots/discord/access.js';
import { configSchema } from '../../src/config/schema.js';

const actor = (over: Partial<Actor> = {}): Actor => ({
  userId: '1', userName: 'u', roles: [], guildId: 'g', channelId: 'c', parentId: null, isDm: false, isThread: false, ...over,
});

describe('Discord access', () => {
  it('lets everyone in when nothing is limited, DMs included', () => {
    const cfg = configSchema.parse({});
    expect(checkAccess(cfg, actor())).toEqual({ ok: true, admin: false, weight: 1 });
    expect(checkAccess(cfg, actor({ isDm: true, guildId: null })).ok).toBe(true);
  });

  it('checks a thread against its channel', () => {
    const cfg = configSchema.parse({ discord: { allowedChannels: ['c'] } });
    expect(checkAccess(cfg, actor({ channelId: 't', parentId: 'c', isThread: true })).ok).toBe(true);
    expect(checkAccess(cfg, actor({ channelId: 't', parentId: 'x', isThread: true })).ok).toBe(false);
  });

  it('refuses DMs when only allowedGuilds is set (admins excepted), unless discord.allowDMs opens them', () => {
    const dm = actor({ isDm: true, guildId: null, channelId: 'd' });
    const guilds = configSchema.parse({ discord: { allowedGuilds: ['g'], adminUsers: ['7'] } });
    expect(checkAccess(guilds, dm)).toEqual({ ok: false, reason: "hearth doesn't answer in DMs here. Use it in one of the server's channels." });
    expect(checkAccess(guilds, actor({ isDm: true, guildId: null, userId: '7' }))).toMatchObject({ ok: true, admin: true });
    expect(checkAccess(guilds, actor())).toMatchObject({ ok: true });
    const open = configSchema.parse({ discord: { allowedGuilds: ['g'], allowedRoles: ['r'], allowDMs: true } });
    expect(checkAccess(open, dm)).toMatchObject({ ok: true, admin: false });
    const closed = configSchema.parse({ discord: { allowDMs: 'false' } });
    expect(checkAccess(closed, dm)).toMatchObject({ ok: false });
  });

  it('makes admins of admin users and admin roles, everywhere', () => {
    const cfg = configSchema.parse({ discord: { allowedGuilds: ['g'], allowedRoles: ['member'], adminUsers: ['7'], adminRoles: ['mod'] } });
    expect(checkAccess(cfg, actor({ userId: '7', guildId: 'other' }))).toMatchObject({ ok: true, admin: true });
    expect(checkAccess(cfg, actor({ roles: ['mod'], isDm: true, guildId: null }))).toMatchObject({ ok: true, admin: true });
    expect(checkAccess(cfg, actor({ roles: ['member'] }))).toMatchObject({ ok: true, admin: false });
    expect(checkAccess(cfg, actor())).toMatchObject({ ok: false });
  });

  it('weighs a user by their heaviest listed role; admins get at least the admin weight', () => {
    const cfg = configSchema.parse({ limits: { roleWeights: { a: 0.5, b: 3 }, adminWeight: 2 } });
    expect(weightOf(cfg, ['a', 'b', 'z'], false)).toBe(3);
    expect(weightOf(cfg, ['a'], false)).toBe(0.5);
    expect(weightOf(cfg, [], false)).toBe(1);
    expect(weightOf(cfg, ['a'], true)).toBe(2);
  });
});
