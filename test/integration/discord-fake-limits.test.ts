/**
 * The fake Discord is as strict as Discord: it refuses command registrations that break Discord's
 * rules and messages past its limits, with Discord's own 400 (code 50035, "Invalid Form Body", an
 * error tree), and answers 429 with retry_after when asked; hearth's commands register cleanly, its
 * messages pass, and its discord.js client waits out a 429 and still delivers.
 */
import { REST } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDiscord, type FakeInteraction } from '../fakes/discord/fake-discord.js';
import { discordHearth, type DiscordHearth } from '../fakes/discord/harness.js';

type Json = Record<string, unknown>;

/** A raw request to the fake as Discord's API: status, body and headers. */
async function call(fake: FakeDiscord, method: string, path: string, body?: unknown): Promise<{ status: number; json: Json; headers: Headers }> {
  const res = await fetch(`${fake.apiBaseUrl}/v10${path}`, {
    method,
    headers: { authorization: `Bot ${fake.token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Json) : {}, headers: res.headers };
}

const cmd = (over: Json = {}): Json => ({ name: 'imagine', description: 'Draw a picture', type: 1, ...over });
const opt = (over: Json = {}): Json => ({ name: 'steps', description: 'Sampling steps', type: 4, ...over });

describe('the fake Discord refuses what Discord refuses', () => {
  let fake: FakeDiscord;
  beforeAll(async () => {
    fake = await FakeDiscord.start();
  });
  afterAll(async () => fake?.close());

  const put = (commands: unknown) => call(fake, 'PUT', `/applications/${fake.applicationId}/commands`, commands);

  it('accepts a valid registration and answers a broken one with 400 50035 and the field that broke', async () => {
    const good = await put([cmd({ options: [opt({ min_value: 1, max_value: 50 }), { name: 'size', description: 'Size', type: 3, choices: [{ name: '512²', value: '512x512' }] }] })]);
    expect(good.status).toBe(200);
    const bad = await put([cmd({ options: [opt({ min_value: 60, max_value: 50 })] })]);
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ code: 50035, message: 'Invalid Form Body' });
    expect(bad.json.errors).toEqual({ 0: { options: { 0: { min_value: { _errors: [{ code: 'NUMBER_TYPE_MAX', message: 'int value should be less than or equal to 50.' }] } } } } });
    // The refused registration changed nothing.
    expect(fake.commands()[0]).toMatchObject({ name: 'imagine' });
    expect((fake.commands()[0] as unknown as { options: Json[] }).options[0]).toMatchObject({ min_value: 1 });
  });

  const broken: Array<[string, Json[], string]> = [
    ['an upper-case command name', [cmd({ name: 'Imagine' })], '0.name: APPLICATION_COMMAND_INVALID_NAME'],
    ['a name of 33 characters', [cmd({ name: 'a'.repeat(33) })], '0.name: APPLICATION_COMMAND_INVALID_NAME'],
    ['a name with a space', [cmd({ name: 'draw it' })], '0.name: APPLICATION_COMMAND_INVALID_NAME'],
    ['no description', [cmd({ description: undefined })], '0.description: BASE_TYPE_REQUIRED'],
    ['a description of 101 characters', [cmd({ description: 'x'.repeat(101) })], '0.description: BASE_TYPE_BAD_LENGTH'],
    ['two commands of one name', [cmd(), cmd()], '1.name: APPLICATION_COMMANDS_DUPLICATE_NAME'],
    ['26 options', [cmd({ options: Array.from({ length: 26 }, (_, i) => opt({ name: `o${i}` })) })], '0.options: BASE_TYPE_MAX_LENGTH'],
    ['a required option after an optional one', [cmd({ options: [opt(), opt({ name: 'prompt', type: 3, required: true })] })], '0.options.1.required: APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID'],
    ['min_value on a string option', [cmd({ options: [opt({ type: 3, min_value: 1 })] })], '0.options.0.min_value: APPLICATION_COMMAND_OPTION_INVALID'],
    ['a fractional min_value on an integer option', [cmd({ options: [opt({ min_value: 1.5 })] })], '0.options.0.min_value: NUMBER_TYPE_COERCE'],
    ['max_length past 6000', [cmd({ options: [opt({ type: 3, max_length: 6001 })] })], '0.options.0.max_length: NUMBER_TYPE_MAX'],
    ['26 choices', [cmd({ options: [opt({ type: 3, choices: Array.from({ length: 26 }, (_, i) => ({ name: `c${i}`, value: `v${i}` })) })] })], '0.options.0.choices: BASE_TYPE_MAX_LENGTH'],
    ['a choice of the wrong type', [cmd({ options: [opt({ choices: [{ name: 'twenty', value: '20' }] })] })], '0.options.0.choices.0.value: NUMBER_TYPE_COERCE'],
    ['a choice outside min/max', [cmd({ options: [opt({ min_value: 1, max_value: 50, choices: [{ name: 'many', value: 80 }] })] })], '0.options.0.choices.0.value: NUMBER_TYPE_MAX'],
    ['a choice name of 101 characters', [cmd({ options: [opt({ type: 3, choices: [{ name: 'n'.repeat(101), value: 'v' }] })] })], '0.options.0.choices.0.name: BASE_TYPE_BAD_LENGTH'],
    ['autocomplete with choices', [cmd({ options: [opt({ type: 3, autocomplete: true, choices: [{ name: 'a', value: 'a' }] })] })], '0.options.0.autocomplete: APPLICATION_COMMAND_AUTOCOMPLETE_INVALID'],
    ['subcommands mixed with options', [cmd({ options: [{ name: 'status', description: 'Status', type: 1 }, opt()] })], '0.options: APPLICATION_COMMAND_OPTIONS_TYPE_INVALID'],
  ];
  for (const [what, commands, expected] of broken) {
    it(`refuses ${what}`, async () => {
      const before = fake.state.refused.length;
      const res = await put(commands);
      expect(res.status).toBe(400);
      expect(res.json.code).toBe(50035);
      const lines = fake.state.refused.slice(before).flatMap((r) => r.errors);
      expect(lines.some((l) => l.startsWith(expected)), lines.join('\n')).toBe(true);
    });
  }

  it('refuses messages past Discord’s limits, and changes nothing when it does', async () => {
    const post = (body: Json) => call(fake, 'POST', `/channels/${fake.channel.id}/messages`, body);
    const row = (n: number, prefix = 'b') => ({ type: 1, components: Array.from({ length: n }, (_, i) => ({ type: 2, style: 1, label: `B${i}`, custom_id: `${prefix}${i}` })) });
    const ok = await post({ content: 'x'.repeat(2000), embeds: [{ description: 'd'.repeat(4096) }], components: Array.from({ length: 5 }, (_, r) => row(5, `r${r}-`)) });
    expect(ok.status).toBe(200);
    const cases: Array<[Json, string]> = [
      [{ content: 'x'.repeat(2001) }, 'content'],
      [{ content: 'e', embeds: [{ description: 'd'.repeat(4097) }] }, 'embeds.0.description'],
      [{ content: 'e', embeds: Array.from({ length: 11 }, () => ({ title: 't' })) }, 'embeds'],
      [{ content: 'e', embeds: [{ description: 'd'.repeat(4000) }, { description: 'd'.repeat(2001) }] }, 'embeds'],
      [{ content: 'r', components: Array.from({ length: 6 }, (_, r) => row(1, `r${r}-`)) }, 'components'],
      [{ content: 'r', components: [row(6)] }, 'components.0.components'],
      [{ content: 'r', components: [{ type: 1, components: [{ type: 2, style: 1, label: 'x', custom_id: 'c'.repeat(101) }] }] }, 'components.0.components.0.custom_id'],
      [{ content: 'r', components: [{ type: 1, components: [{ type: 2, style: 1, label: 'x', custom_id: 'same' }, { type: 2, style: 1, label: 'y', custom_id: 'same' }] }] }, 'components.0.components.1.custom_id'],
      [{ content: 'f', attachments: Array.from({ length: 11 }, (_, i) => ({ id: i, filename: `f${i}.png` })) }, 'attachments'],
    ];
    const count = fake.messagesIn(fake.channel.id).length;
    for (const [body, field] of cases) {
      const res = await post(body);
      expect(res.status, field).toBe(400);
      expect(res.json).toMatchObject({ code: 50035, message: 'Invalid Form Body' });
      let node = res.json.errors as Json;
      for (const k of field.split('.')) node = node[k] as Json;
      expect(node._errors, field).toBeDefined();
    }
    expect(fake.messagesIn(fake.channel.id)).toHaveLength(count);
    // An edit past the limit is refused too, and the message keeps what it showed.
    const edit = await call(fake, 'PATCH', `/channels/${fake.channel.id}/messages/${String(ok.json.id)}`, { content: 'y'.repeat(2001) });
    expect(edit.status).toBe(400);
    expect(fake.state.messages.get(String(ok.json.id))!.content).toBe('x'.repeat(2000));
  });

  it('answers 429 as Discord does when asked: retry_after, Retry-After and X-RateLimit-* headers', async () => {
    fake.rateLimit(/^\/channels\/\d+\/messages$/, { method: 'POST', retryAfterSeconds: 0.4 });
    const limited = await call(fake, 'POST', `/channels/${fake.channel.id}/messages`, { content: 'hi' });
    expect(limited.status).toBe(429);
    expect(limited.json).toEqual({ message: 'You are being rate limited.', retry_after: 0.4, global: false, code: 0 });
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(limited.headers.get('x-ratelimit-reset-after'))).toBe(0.4);
    expect(limited.headers.get('x-ratelimit-bucket')).toBeTruthy();
    expect(limited.headers.get('x-ratelimit-scope')).toBe('user');
    expect((await call(fake, 'POST', `/channels/${fake.channel.id}/messages`, { content: 'hi' })).status).toBe(200);
    fake.rateLimit(/^\/users\/@me$/, { global: true });
    const global = await call(fake, 'GET', '/users/@me');
    expect(global.status).toBe(429);
    expect(global.headers.get('x-ratelimit-global')).toBe('true');
    expect(global.json.global).toBe(true);
  });

  it('discord.js’s REST client waits out the 429 and the request goes through', async () => {
    const rest = new REST({ api: fake.apiBaseUrl, globalRequestsPerSecond: 10_000 }).setToken(fake.token);
    let limitedEvents = 0;
    rest.on('rateLimited', () => limitedEvents++);
    fake.rateLimit(/^\/channels\/\d+\/messages$/, { method: 'POST', times: 2, retryAfterSeconds: 0.3 });
    const before = fake.state.rateLimited.length;
    const sent = (await rest.post(`/channels/${fake.channel.id}/messages`, { body: { content: 'after the wait' } })) as Json;
    expect(sent.content).toBe('after the wait');
    expect(fake.state.rateLimited.length - before).toBe(2);
    expect(limitedEvents).toBe(2);
  });
});

describe('hearth against the strict fake', () => {
  let h: DiscordHearth;
  let fake: FakeDiscord;
  beforeAll(async () => {
    h = await discordHearth({ imageStepMs: 20 });
    fake = h.fake;
  });
  afterAll(async () => {
    await h?.stop();
    await fake?.close();
  });

  it('registers its commands without a refusal, and its option bounds are Discord-valid', () => {
    expect(fake.commands().length).toBeGreaterThan(0);
    expect(fake.state.refused).toEqual([]);
  });

  it('delivers an answer and an image while Discord rate-limits its edits, follow-ups and callbacks', async () => {
    fake.rateLimit(/^\/webhooks\//, { times: 3, retryAfterSeconds: 0.2 });
    fake.rateLimit(/^\/interactions\/\d+\/[^/]+\/callback$/, { times: 1, retryAfterSeconds: 0.1 });
    const before = fake.state.rateLimited.length;
    const ask: FakeInteraction = fake.slash('ask', { prompt: 'through the rate limit' });
    await fake.waitFor(() => fake.original(ask)?.content.includes('echo: through the rate limit') && (fake.original(ask)!.flags & (1 << 7)) === 0, 'the answer', 20_000);
    const img = fake.slash('imagine', { prompt: 'a rate-limited lighthouse', steps: 4 });
    await fake.waitFor(() => fake.original(img)?.attachments.some((a) => a.content_type === 'image/png'), 'the image', 20_000);
    expect(fake.state.rateLimited.length - before).toBe(4);
    expect(fake.state.refused).toEqual([]);
    expect(h.reported).toEqual([]);
  });
});
