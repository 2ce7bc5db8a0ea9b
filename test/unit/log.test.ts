import { describe, expect, it } from 'vitest';
import { SECRET_PATHS, scrubSecrets } from '../../src/util/log.js';
import { LogCapture, leaks } from '../helpers/log-capture.js';
import { consoleToken, discordId, discordToken, slackTokens } from '../helpers/tokens.js';

/** Every shape a credential of Discord, Slack or the console really takes. */
function realTokens(): Record<string, string> {
  return {
    'discord M (17-digit id)': discordToken(discordId('1', 17), 27),
    'discord M (19-digit id)': discordToken(discordId('1', 19)),
    'discord M (20-digit id)': discordToken(discordId('2', 20)),
    'discord N (id 4…)': discordToken(discordId('4')),
    'discord N (id 7…)': discordToken(discordId('7'), 27),
    'discord O (id 8…)': discordToken(discordId('8')),
    'discord O (id 9…)': discordToken(discordId('9'), 27),
    'slack xoxb': slackTokens.bot(),
    'slack xoxp': slackTokens.user(),
    'slack xapp': slackTokens.app(),
    'slack xoxe refresh': slackTokens.refresh(),
    'slack xoxe.xoxb rotating': slackTokens.rotatingBot(),
  };
}

/** Free-form text as libraries write it around a token. */
const CONTEXTS: Array<(t: string) => string> = [
  (t) => t,
  (t) => `An invalid token was provided: ${t}`,
  (t) => `Error: request failed (Authorization: Bot ${t})`,
  (t) => `{"token":"${t}","channel":"C1"}`,
  (t) => `POST https://slack.com/api/chat.postMessage?token=${t}&channel=C1 failed`,
  (t) => `token=${t}\nat Object.<anonymous>`,
  (t) => `(${t})`,
];

describe('scrubSecrets', () => {
  it('removes every real token shape of Discord and Slack, wherever it sits in a message', () => {
    for (const [label, token] of Object.entries(realTokens())) {
      for (const context of CONTEXTS) {
        const text = context(token);
        const out = scrubSecrets(text);
        expect(leaks(out, { [label]: token }), `${label} in ${JSON.stringify(context('TOKEN'))}`).toEqual([]);
      }
    }
  });

  it('removes a Discord token whose HMAC ends in - or _ completely', () => {
    const id = discordId('8');
    for (const tail of ['-', '_', '--']) {
      const token = `${discordToken(id).slice(0, -tail.length)}${tail}`;
      expect(scrubSecrets(`bad token ${token} here`)).toBe('bad token ***discord-token*** here');
    }
  });

  it('removes the console token (any 16+ characters) as the console receives it: a bearer header or ?token=', () => {
    for (const length of [16, 19, 24, 48]) {
      const token = consoleToken(length);
      for (const text of [`Authorization: Bearer ${token}`, `GET /?token=${token} 401`, `GET /api/jobs?x=1&token=${token}&y=2`, `"token": "${token}"`]) {
        expect(leaks(scrubSecrets(text), { console: token }), text.replace(token, 'TOKEN')).toEqual([]);
      }
    }
  });

  it('removes interaction and webhook tokens from the URLs they travel in', () => {
    const it = Buffer.from(`interaction:1234567890123456789:${'x'.repeat(90)}`).toString('base64url');
    for (const text of [
      `PATCH https://discord.com/api/v10/webhooks/1234567890123456789/${it}/messages/%40original 401`,
      `POST /api/v10/interactions/1234567890123456789/${it}/callback`,
      `DiscordAPIError[50027]: Invalid Webhook Token (url /webhooks/1/${'A'.repeat(68)})`,
    ]) {
      expect(scrubSecrets(text)).not.toMatch(/[A-Za-z0-9_-]{20,}\/(messages|callback)|A{20}/);
      expect(scrubSecrets(text)).toContain('/***');
    }
  });

  it('removes a labelled signing secret', () => {
    const secret = slackTokens.signingSecret();
    for (const text of [`{"signingSecret":"${secret}"}`, `signing_secret=${secret}`, `signingSecret: ${secret}`]) {
      expect(leaks(scrubSecrets(text), { secret }), text.replace(secret, 'SECRET')).toEqual([]);
    }
  });

  it('leaves ordinary text, ids and links alone', () => {
    const plain = [
      'job 01J9ZK4Y3M6 done in 2.5 s (tokens: 120)',
      'https://discord.com/channels/812345678901234567/912345678901234567/1234567890123456789',
      'the prompt was "a tokenizer of 50 tokens" and took 3 steps',
      'maxTokens=512, step 4/20',
      'Bot is ready',
    ];
    for (const text of plain) expect(scrubSecrets(text)).toBe(text);
  });
});

describe('the logger’s redaction', () => {
  it('censors credential keys at every depth hearth logs them (config, clients’ errors, requests)', () => {
    const capture = new LogCapture();
    const t = realTokens();
    const discord = t['discord O (id 8…)']!;
    const bot = t['slack xoxb']!;
    const app = t['slack xapp']!;
    const web = consoleToken(16);
    const signingSecret = slackTokens.signingSecret();
    capture.log.info({ token: discord }, 'top');
    capture.log.info({ discord: { token: discord }, slack: { botToken: bot, appToken: app, signingSecret }, web: { token: web } }, 'config');
    capture.log.info({ config: { discord: { token: discord }, slack: { botToken: bot, appToken: app, signingSecret }, web: { token: web } } }, 'nested config');
    capture.log.error({ err: { config: { headers: { Authorization: `Bearer ${bot}` } } } }, 'web-api error');
    capture.log.info({ req: { headers: { authorization: `Bot ${discord}`, cookie: 'hearth_console=abc' } } }, 'request');
    capture.log.info({ headers: { Authorization: `Bearer ${web}` } }, 'headers');
    expect(capture.lines).toHaveLength(6);
    capture.assertNoSecrets({ discord, bot, app, web, signingSecret });
    // Redacted, not dropped: the keys are still there to say what was set.
    expect(capture.entries()[1]).toMatchObject({ discord: { token: '***' }, slack: { botToken: '***', signingSecret: '***' }, web: { token: '***' } });
  });

  it('has a path for each credential key at each depth', () => {
    for (const key of ['token', 'botToken', 'appToken', 'signingSecret']) {
      for (const prefix of ['', '*.', '*.*.']) expect(SECRET_PATHS).toContain(`${prefix}${key}`);
    }
  });

  it('the leak check itself finds a token and a part of one', () => {
    const token = slackTokens.app();
    expect(leaks(`x ${token} y`, { app: token })).toEqual(['app']);
    const hex = token.split('-').pop()!;
    expect(leaks(`cut: …${hex.slice(0, 40)}`, { app: token })).toEqual([]);
    expect(leaks(`cut: …${hex}`, { app: token })).toEqual(['app (a part)']);
    expect(() => {
      const c = new LogCapture();
      c.log.warn(`oops ${token}`);
      c.assertNoSecrets({ app: token });
    }).toThrow(/app/);
  });
});
