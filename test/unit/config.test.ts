import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { formatConfigError, loadConfig, redactConfig } from '../../src/config/load.js';
import type { ConfigError, LoadedConfig } from '../../src/config/load.js';
import { configSchema, defaultConfig, discordEnabled, slackEnabled } from '../../src/config/schema.js';

const EXAMPLE = fileURLToPath(new URL('../../config/hearth.example.yaml', import.meta.url));
const EXAMPLE_ENV = {
  DISCORD_TOKEN: 'discord-token-value',
  DISCORD_APPLICATION_ID: '123456789012345678',
  SLACK_BOT_TOKEN: 'xoxb-bot-token-value',
  SLACK_APP_TOKEN: 'xapp-app-token-value',
  SLACK_SIGNING_SECRET: 'signing-secret-value',
  HEARTH_WEB_TOKEN: 'web-token-value',
};

let dir: string;
let n = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hearth-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(yaml: string): Promise<string> {
  const file = join(dir, `c${n++}.yaml`);
  await writeFile(file, yaml);
  return file;
}

async function load(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<LoadedConfig> {
  const r = await loadConfig({ path: await write(yaml), env, cwd: dir });
  if (!r.ok) throw new Error(`expected the config to load, got:\n${formatConfigError(r.error)}`);
  return r.value;
}

async function fail(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<{ error: ConfigError; text: string; file: string }> {
  const file = await write(yaml);
  const r = await loadConfig({ path: file, env, cwd: dir });
  if (r.ok) throw new Error(`expected a config error for:\n${yaml}`);
  return { error: r.error, text: formatConfigError(r.error), file };
}

describe('loadConfig: where the config comes from', () => {
  it('runs on defaults when there is no config/hearth.yaml (web console only)', async () => {
    const cwd = await mkdtemp(join(dir, 'empty-'));
    const r = await loadConfig({ cwd, env: {} });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const { config, path, baseDir } = r.value;
    expect(path).toBeNull();
    expect(baseDir).toBe(cwd);
    expect(config.dataDir).toBe(join(cwd, 'data'));
    expect(config.web).toEqual({ host: '127.0.0.1', port: 8080, users: [], maxQueued: 20 });
    expect(config.discord.apiBaseUrl).toBe('https://discord.com/api');
    expect(config.slack.apiUrl).toBe('https://slack.com/api/');
    expect(config.files.allowedHosts).toEqual(['cdn.discordapp.com', 'media.discordapp.net', 'files.slack.com']);
    expect(config.files.maxBytes).toBe(10 * 1024 * 1024);
    expect(config.models.chat).toBeUndefined();
    expect(config.limits.dailyGpuSeconds).toBeNull();
    expect(discordEnabled(config)).toBe(false);
    expect(slackEnabled(config)).toBe(false);
  });

  it('reads config/hearth.yaml under cwd when it exists', async () => {
    const cwd = await mkdtemp(join(dir, 'default-'));
    await mkdir(join(cwd, 'config'));
    await writeFile(join(cwd, 'config', 'hearth.yaml'), 'web:\n  port: 9001\n');
    const r = await loadConfig({ cwd, env: {} });
    expect(r.ok && r.value.path).toBe(join(cwd, 'config', 'hearth.yaml'));
    expect(r.ok && r.value.config.web.port).toBe(9001);
  });

  it('reads the file HEARTH_CONFIG names, relative to cwd', async () => {
    const file = await write('web:\n  port: 9002\n');
    const r = await loadConfig({ cwd: dir, env: { HEARTH_CONFIG: file.slice(dir.length + 1) } });
    expect(r.ok && r.value.path).toBe(file);
    expect(r.ok && r.value.config.web.port).toBe(9002);
  });

  it('prefers an explicit path over HEARTH_CONFIG', async () => {
    const a = await write('web:\n  port: 9003\n');
    const b = await write('web:\n  port: 9004\n');
    const r = await loadConfig({ path: a, cwd: dir, env: { HEARTH_CONFIG: b } });
    expect(r.ok && r.value.config.web.port).toBe(9003);
  });

  it('fails naming the path when an explicitly named file is missing', async () => {
    const r = await loadConfig({ path: 'nope/missing.yaml', cwd: dir, env: {} });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.file).toBe(join(dir, 'nope/missing.yaml'));
    expect(formatConfigError(r.error)).toBe(
      `config error in ${join(dir, 'nope/missing.yaml')}: config file: the file does not exist. Start from config/hearth.example.yaml, or name another file.`,
    );
  });

  it('fails naming HEARTH_CONFIG when the file it names is missing', async () => {
    const r = await loadConfig({ cwd: dir, env: { HEARTH_CONFIG: join(dir, 'gone.yaml') } });
    expect(!r.ok && r.error.key).toBe('HEARTH_CONFIG');
    expect(!r.ok && formatConfigError(r.error)).toContain(join(dir, 'gone.yaml'));
  });

  it('treats an empty file as all defaults', async () => {
    const { config } = await load('# nothing here\n');
    expect(config.web.port).toBe(8080);
  });
});

describe('the example config', () => {
  it('validates with the environment variables set, every platform on', async () => {
    const r = await loadConfig({ path: EXAMPLE, env: EXAMPLE_ENV, cwd: dir });
    if (!r.ok) throw new Error(formatConfigError(r.error));
    const { config } = r.value;
    expect(discordEnabled(config)).toBe(true);
    expect(slackEnabled(config)).toBe(true);
    expect(config.discord.token).toBe('discord-token-value');
    expect(config.discord.applicationId).toBe('123456789012345678');
    expect(config.web.token).toBe('web-token-value');
    expect(config.models.chat?.path).toBe(join(dir, 'models/qwen2.5-1.5b-instruct-q4_k_m.gguf'));
    expect(config.models.image?.dir).toBe(join(dir, 'models/stable-diffusion-v1-5-onnx'));
  });

  it('validates with none of them set, the platforms off', async () => {
    const r = await loadConfig({ path: EXAMPLE, env: {}, cwd: dir });
    if (!r.ok) throw new Error(formatConfigError(r.error));
    expect(discordEnabled(r.value.config)).toBe(false);
    expect(slackEnabled(r.value.config)).toBe(false);
    expect(r.value.config.web.token).toBeUndefined();
  });

  it('shows the defaults: loading it equals loading just its model paths', async () => {
    const r = await loadConfig({ path: EXAMPLE, env: {}, cwd: dir });
    if (!r.ok) throw new Error(formatConfigError(r.error));
    const minimal = await load(
      'models:\n  chat: { path: ./models/qwen2.5-1.5b-instruct-q4_k_m.gguf }\n' +
        '  image: { dir: ./models/stable-diffusion-v1-5-onnx }\n  caption: { dir: ./models/vit-gpt2-image-captioning }\n' +
        '  embedding: { dir: ./models/all-MiniLM-L6-v2 }\n',
    );
    expect(r.value.config).toEqual(minimal.config);
  });

  it('documents every key of the schema, and its commented-out keys validate too', async () => {
    // Optional keys with no default are shown commented out (`# vramMB: 2200`); switch them on.
    const text = (await readFile(EXAMPLE, 'utf8')).replace(/^(\s*)# ([a-z]\w*: )/gm, '$1$2');
    const written = new Set(leafPaths(parseYaml(text) as unknown));
    expect(schemaPaths(configSchema).filter((p) => !written.has(p))).toEqual([]);
    const { config } = await load(text, EXAMPLE_ENV);
    expect(config.models.chat?.vramMB).toBeGreaterThan(0);
  });
});

describe('${NAME} substitution', () => {
  it('replaces ${NAME} and ${NAME:-fallback} in any string value', async () => {
    const { config } = await load(
      'dataDir: ${BASE}/state\ndiscord:\n  token: ${T}\n  applicationId: ${APP:-42}\nweb:\n  port: ${PORT:-9090}\n  host: ${HOST:-localhost}\n',
      { BASE: '/srv/hearth', T: 'tok', HOST: '' },
    );
    expect(config.dataDir).toBe('/srv/hearth/state');
    expect(config.discord.token).toBe('tok');
    expect(config.discord.applicationId).toBe('42');
    expect(config.web.port).toBe(9090);
    // As in the shell, `:-` also covers a variable that is set but empty.
    expect(config.web.host).toBe('localhost');
  });

  it('substitutes after parsing, so quotes or colons in a value cannot break the YAML', async () => {
    const nasty = `a: "b' #c\n  d: e`;
    const { config } = await load('models:\n  chat:\n    path: a.gguf\n    systemPrompt: "${P}"\n', { P: nasty });
    expect(config.models.chat?.systemPrompt).toBe(nasty);
  });

  it('keeps $${ as a literal ${', async () => {
    const { config } = await load('models:\n  chat:\n    path: a.gguf\n    systemPrompt: cost $${X}\n', { X: 'no' });
    expect(config.models.chat?.systemPrompt).toBe('cost ${X}');
  });

  it('fails naming the key and the variable when a variable is unset', async () => {
    const { error, text, file } = await fail('discord:\n  token: ${DISCORD_TOKEN}\n  applicationId: "1"\n');
    expect(error.key).toBe('discord.token');
    expect(text).toBe(
      `config error in ${file}: discord.token: environment variable DISCORD_TOKEN is not set. ` +
        'Set it, or write ${DISCORD_TOKEN:-} to leave discord.token empty when it is unset.',
    );
  });

  it('leaves a platform off when its token comes out empty', async () => {
    const { config } = await load('discord:\n  token: ${DISCORD_TOKEN:-}\n  applicationId: "1"\n');
    expect(config.discord.token).toBeUndefined();
    expect(discordEnabled(config)).toBe(false);
  });
});

describe('values', () => {
  it('keeps every digit of unquoted Discord ids, which are too large for a JavaScript number', async () => {
    const { config } = await load(
      'discord:\n  guildIds: [123456789012345678, 42]\nlimits:\n  roleWeights:\n    987654321098765432: 2\n',
    );
    expect(config.discord.guildIds).toEqual(['123456789012345678', '42']);
    expect(config.limits.roleWeights).toEqual({ '987654321098765432': 2 });
  });

  it('resolves relative paths against cwd and leaves hf: URIs alone', async () => {
    const a = await load('dataDir: state\nmodels:\n  chat:\n    path: hf:user/repo:Q4_K_M\n  caption:\n    dir: m/cap\n');
    expect(a.config.dataDir).toBe(join(dir, 'state'));
    expect(a.config.models.chat?.path).toBe('hf:user/repo:Q4_K_M');
    expect(a.config.models.caption?.dir).toBe(join(dir, 'm/cap'));
  });

  it('fills the defaults inside a section that is given', async () => {
    const { config } = await load('models:\n  chat:\n    path: /m/a.gguf\n  image:\n    dir: /m/sd\n    defaults: { steps: 30 }\n');
    expect(config.models.chat).toMatchObject({ path: '/m/a.gguf', parallel: 4, contextSize: 4096, threads: 'auto', gpuLayers: 'auto' });
    expect(config.models.image?.defaults).toMatchObject({ steps: 30, scheduler: 'euler', strength: 0.6 });
    // The size is left to the model (its native size), not filled with SD 1.5's.
    expect(config.models.image?.defaults).not.toHaveProperty('width');
    expect(config.models.image?.kind).toBe('auto');
    expect(config.models.image?.providers).toEqual(['cuda', 'cpu']);
  });

  it('gives the console no knowledge unless channels are named for it, and takes indexed ones', async () => {
    expect(defaultConfig().knowledge.console).toEqual({ slackChannels: [], discordChannels: [] });
    const { config } = await load('knowledge:\n  slackChannels: [CGEN]\n  discordChannels: [123456789012345678901]\n  console:\n    discordChannels: [123456789012345678901]\n');
    expect(config.knowledge.console).toEqual({ slackChannels: [], discordChannels: ['123456789012345678901'] });
  });

  it('takes the trailing slash off discord.apiBaseUrl and puts one on slack.apiUrl', async () => {
    const { config } = await load('discord:\n  apiBaseUrl: http://127.0.0.1:5000/api/\nslack:\n  apiUrl: http://127.0.0.1:5001/api\n');
    expect(config.discord.apiBaseUrl).toBe('http://127.0.0.1:5000/api');
    expect(config.slack.apiUrl).toBe('http://127.0.0.1:5001/api/');
  });

  it('lets a non-loopback web.host through when web.token is set', async () => {
    const { config } = await load('web:\n  host: 0.0.0.0\n  token: long-random-token-0123\n');
    expect(config.web.host).toBe('0.0.0.0');
  });

  it('takes a short web.token on loopback only, and web.users with their own long tokens', async () => {
    const { config } = await load('web:\n  token: short\n  maxQueued: 7\n  users:\n    - { name: ada, token: ada-token-0123456789 }\n');
    expect(config.web.token).toBe('short');
    expect(config.web.maxQueued).toBe(7);
    expect(config.web.users).toEqual([{ name: 'ada', token: 'ada-token-0123456789' }]);
    expect(redactConfig(config).web.users).toEqual([{ name: 'ada', token: '***' }]);
  });

  it('accepts a Slack bot in http mode with a signing secret', async () => {
    const { config } = await load('slack:\n  botToken: xoxb-1\n  mode: http\n  signingSecret: s\n');
    expect(slackEnabled(config)).toBe(true);
  });
});

describe('config errors name the key, what was given and what is expected', () => {
  const cases: { name: string; yaml: string; key: string; given?: string; expected: string; hint?: string }[] = [
    { name: 'a port that is not a number', yaml: 'web:\n  port: eighty\n', key: 'web.port', given: '"eighty"', expected: 'an integer from 0 to 65535' },
    { name: 'parallel 0', yaml: 'models:\n  chat:\n    path: a.gguf\n    parallel: 0\n', key: 'models.chat.parallel', given: '0', expected: 'an integer from 1 to 64' },
    { name: 'a typo in a key', yaml: 'discord:\n  tokne: x\n', key: 'discord.tokne', given: 'unknown key "tokne"', expected: 'one of the keys in discord: token, applicationId', hint: 'Did you mean "token"?' },
    { name: 'web.host 0.0.0.0 without a token', yaml: 'web:\n  host: 0.0.0.0\n', key: 'web.token', expected: 'not a loopback address', hint: 'web.host: 127.0.0.1' },
    { name: 'a web.token under 16 characters off loopback', yaml: 'web:\n  host: 0.0.0.0\n  token: fifteen-chars-x\n', key: 'web.token', given: '(hidden)', expected: 'at least 16 characters, because web.host (0.0.0.0) is not a loopback address', hint: 'openssl rand' },
    { name: 'a web.users token under 16 characters', yaml: 'web:\n  users:\n    - { name: ada, token: short-S3CRET }\n', key: 'web.users[0].token', given: '(hidden)', expected: 'at least 16 characters' },
    { name: 'a web.users token shared with web.token', yaml: 'web:\n  token: same-token-0123456789\n  users:\n    - { name: ada, token: same-token-0123456789 }\n', key: 'web.users[0].token', given: '(hidden)', expected: 'a token of its own' },
    { name: 'a web.users name the console keeps for itself', yaml: 'web:\n  users:\n    - { name: console, token: ada-token-0123456789 }\n', key: 'web.users[0].name', given: '"console"', expected: 'other than "console"' },
    { name: 'a Slack bot token without an app token in socket mode', yaml: 'slack:\n  botToken: xoxb-1\n', key: 'slack.appToken', expected: 'starts with xapp-', hint: 'Basic Information → App-Level Tokens, with the connections:write scope' },
    { name: 'Slack http mode without a signing secret', yaml: 'slack:\n  botToken: xoxb-1\n  mode: http\n', key: 'slack.signingSecret', expected: 'the signing secret', hint: 'Basic Information → App Credentials' },
    { name: 'a Discord token without an application id', yaml: 'discord:\n  token: t\n', key: 'discord.applicationId', expected: 'application id', hint: 'General Information' },
    { name: 'a URL in files.allowedHosts', yaml: 'files:\n  allowedHosts: [cdn.discordapp.com, "https://x.com/path"]\n', key: 'files.allowedHosts[1]', given: '"https://x.com/path"', expected: 'a bare host name', hint: 'Write just "x.com"' },
    { name: 'a chat model that is not a .gguf', yaml: 'models:\n  chat:\n    path: ./model.safetensors\n', key: 'models.chat.path', given: '"./model.safetensors"', expected: 'a .gguf file path or an hf: URI' },
    { name: 'a chat section without its path', yaml: 'models:\n  chat:\n    parallel: 2\n', key: 'models.chat.path', expected: 'a .gguf file path' },
    { name: 'a log level that does not exist', yaml: 'log:\n  level: verbose\n', key: 'log.level', given: '"verbose"', expected: 'one of "fatal", "error", "warn", "info", "debug" or "trace"' },
    { name: 'a negative VRAM budget', yaml: 'models:\n  vramBudgetMB: -1\n', key: 'models.vramBudgetMB', given: '-1', expected: 'greater than 0, or "auto"' },
    { name: 'a section that is not a mapping', yaml: 'web: yes\n', key: 'web', given: '"yes"', expected: 'a mapping' },
    { name: 'maxTokens not below contextSize', yaml: 'models:\n  chat:\n    path: a.gguf\n    contextSize: 512\n    maxTokens: 512\n', key: 'models.chat.maxTokens', given: '512', expected: 'fewer tokens than models.chat.contextSize (512)' },
    {
      name: 'a console channel that is not indexed',
      yaml: 'knowledge:\n  slackChannels: [CGEN]\n  console:\n    slackChannels: [CGEN, CPRIV]\n',
      key: 'knowledge.console.slackChannels[1]', given: '"CPRIV"', expected: 'a channel hearth indexes (one of knowledge.slackChannels; they are CGEN)',
      hint: 'Add CPRIV to knowledge.slackChannels to index it, or take it out of knowledge.console.slackChannels.',
    },
    {
      name: 'a console Discord channel with no Discord channel indexed',
      yaml: 'knowledge:\n  slackChannels: [CGEN]\n  console:\n    discordChannels: ["123456789012345678"]\n',
      key: 'knowledge.console.discordChannels[0]', given: '"123456789012345678"', expected: 'one of knowledge.discordChannels; none are listed',
      hint: 'Add 123456789012345678 to knowledge.discordChannels',
    },
    { name: 'an image default size that is not a multiple of 8', yaml: 'models:\n  image:\n    dir: sd\n    defaults: { width: 500 }\n', key: 'models.image.defaults.width', given: '500', expected: 'a multiple of 8' },
  ];

  it.each(cases)('$name', async (c) => {
    const { error, text, file } = await fail(c.yaml);
    expect(error.key).toBe(c.key);
    expect(error.given).toBe(c.given);
    expect(error.expected).toContain(c.expected);
    if (c.hint) expect(error.hint).toContain(c.hint);
    const got = c.given === undefined ? 'but it is not set.' : `got ${c.given}.`;
    expect(text.split('\n')[0]).toMatch(new RegExp(`^config error in ${escape(file)}: ${escape(c.key)}: (expected .*${escape(got)}|unknown key)`));
  });

  it('gives the line and column of a YAML syntax error', async () => {
    const { error, text } = await fail('web:\n  port: 8080\n  host: [127.0.0.1\nlimits: {}\n');
    expect(error.key).toBe('yaml');
    expect(text).toMatch(/YAML syntax error at line \d+, column \d+/);
    const bad = await fail('log:\n  level: info\n\tweb: {}\n');
    expect(bad.text).toContain('YAML syntax error at line 3, column 1');
  });

  it('reports every problem, each on its own line', async () => {
    const { error, text } = await fail('web:\n  port: -1\nmodels:\n  chat:\n    path: a.gguf\n    parallel: 100\ndiscord:\n  guildz: []\n');
    expect(error.issues.map((i) => i.key).sort()).toEqual(['discord.guildz', 'models.chat.parallel', 'web.port']);
    expect(text.split('\n')).toHaveLength(3);
    for (const line of text.split('\n')) expect(line).toMatch(/^config error in .*: (web\.port|models\.chat\.parallel|discord\.guildz): /);
  });

  it('never prints a secret value', async () => {
    const secrets = ['S3CRET-A', 'xapp-S3CRET-B', 'xoxb-S3CRET-C', 'S3CRET-D', 'S3CRET-E'];
    const texts = [
      (await fail('discord:\n  token: S3CRET-A\n')).text, // missing applicationId
      (await fail('slack:\n  botToken: xapp-S3CRET-B\n  appToken: xoxb-S3CRET-C\n')).text, // swapped
      (await fail('web:\n  host: 0.0.0.0\n  token: [S3CRET-D]\n')).text, // wrong type
      (await fail('slack:\n  signingSecret: 12345\n  tokn: S3CRET-E\n')).text, // unknown key holding a secret
      (await fail('web:\n  token: "S3CRET-E\n  port: 1\n')).text, // YAML error on the secret's line
      (await fail('slack:\n  botToken: ${BOT}\n', { BOT: 'xapp-S3CRET-B' })).text, // from the environment
    ];
    for (const t of texts) for (const s of secrets) expect(t).not.toContain(s);
    expect(texts[2]).toContain('web.token: expected a string, got (hidden).');
  });
});

describe('redactConfig', () => {
  it('replaces every secret with *** and leaves the rest and the original alone', async () => {
    const r = await loadConfig({ path: EXAMPLE, env: EXAMPLE_ENV, cwd: dir });
    if (!r.ok) throw new Error(formatConfigError(r.error));
    const red = redactConfig(r.value.config);
    const json = JSON.stringify(red);
    for (const v of Object.values(EXAMPLE_ENV).filter((v) => v !== EXAMPLE_ENV.DISCORD_APPLICATION_ID)) expect(json).not.toContain(v);
    expect(red.discord.token).toBe('***');
    expect(red.slack.signingSecret).toBe('***');
    expect(red.web.token).toBe('***');
    expect(red.discord.applicationId).toBe('123456789012345678');
    expect(red.models.chat?.maxTokens).toBe(512);
    expect(r.value.config.discord.token).toBe('discord-token-value');
  });

  it('agrees with the schema defaults helper', () => {
    expect(redactConfig(defaultConfig())).toEqual(defaultConfig());
  });
});

// ---------------------------------------------------------------------------------------------

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Dotted paths of the leaves of a parsed YAML tree (mappings are descended into, lists are leaves). */
function leafPaths(node: unknown, prefix = ''): string[] {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return [prefix];
  const entries = Object.entries(node);
  if (entries.length === 0) return [prefix];
  return entries.flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
}

/** Dotted paths of the leaf keys of a zod object schema (records and lists are leaves). */
function schemaPaths(schema: z.ZodType, prefix = ''): string[] {
  let s: z.ZodType = schema;
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodNullable) s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodPipe) s = (s.in instanceof z.ZodTransform ? s.out : s.in) as z.ZodType;
    else break;
  }
  if (!(s instanceof z.ZodObject)) return [prefix];
  return Object.entries(s.shape as Record<string, z.ZodType>).flatMap(([k, v]) => schemaPaths(v, prefix ? `${prefix}.${k}` : k));
}
