import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { slackAppManifest } from '../../src/bots/slack/index.js';

describe('the Slack app manifest', () => {
  test('Socket Mode: the commands and events the adapter handles, no request URLs', () => {
    const m = slackAppManifest({ mode: 'socket' }) as { features: { slash_commands: Array<{ command: string; url?: string }> }; settings: Record<string, { bot_events?: string[] } | boolean> };
    const commands = m.features.slash_commands.map((c) => c.command);
    const registered = readFileSync(new URL('../../src/bots/slack/slash-commands.ts', import.meta.url), 'utf8').match(/app\.command\('([^']+)'/g)?.map((x) => x.slice(13, -1));
    expect(commands.sort()).toEqual(registered?.sort());
    expect(m.settings.socket_mode_enabled).toBe(true);
    expect(m.features.slash_commands.every((c) => c.url === undefined)).toBe(true);
    expect((m.settings.event_subscriptions as { bot_events: string[] }).bot_events).toEqual(['app_mention', 'message.im']);
  });

  test('workspace knowledge adds the history, membership and name scopes and the channel message events', () => {
    const m = slackAppManifest({ mode: 'socket', knowledge: true }) as { oauth_config: { scopes: { bot: string[] } }; settings: { event_subscriptions: { bot_events: string[] } } };
    expect(m.oauth_config.scopes.bot).toEqual(expect.arrayContaining(['channels:history', 'groups:history', 'channels:read', 'groups:read', 'users:read', 'chat:write']));
    expect(m.settings.event_subscriptions.bot_events).toEqual(['app_mention', 'message.im', 'message.channels', 'message.groups']);
    const plain = slackAppManifest({ mode: 'socket' }) as { oauth_config: { scopes: { bot: string[] } } };
    expect(plain.oauth_config.scopes.bot).not.toContain('channels:read');
    // Reading a thread is needed without knowledge too: a restart finds the answer message a crash left there.
    expect(plain.oauth_config.scopes.bot).toEqual(expect.arrayContaining(['channels:history', 'groups:history', 'im:history']));
  });

  test('HTTP mode needs the public URL of /slack/events and uses it everywhere', () => {
    expect(() => slackAppManifest({ mode: 'http' })).toThrow(/requestUrl/);
    const m = JSON.stringify(slackAppManifest({ mode: 'http', requestUrl: 'https://hearth.example.org/slack/events' }));
    expect(m.match(/https:\/\/hearth\.example\.org\/slack\/events/g)?.length).toBe(5);
    expect(m).toContain('"socket_mode_enabled":false');
  });
});
