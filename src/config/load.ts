/**
 * Reads hearth's YAML config: finds the file, parses it, substitutes `${NAME}` from the environment,
 * validates it against {@link configSchema} and resolves relative paths against the working directory.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { err, ok } from '../engine/types.js';
import type { Result } from '../engine/types.js';
import { checkAdapterFiles } from './adapter-files.js';
import { configError, configIssue, describeGiven, isSecretKey } from './errors.js';
import type { ConfigError, ConfigIssue } from './errors.js';
import { configSchema } from './schema.js';
import type { HearthConfig } from './schema.js';

export { formatConfigError } from './errors.js';
export type { ConfigError, ConfigIssue } from './errors.js';

/** The validated configuration and where it came from. */
export interface LoadedConfig {
  config: HearthConfig;
  /** The file it was read from (absolute), or null when no file existed and defaults were used. */
  path: string | null;
  /** The directory relative paths in the config were resolved against (the working directory). */
  baseDir: string;
  /** The models taken from dataDir/models/defaults.json because the config names none of that kind. */
  defaults?: DefaultKind[];
}

export type DefaultKind = 'chat' | 'caption' | 'image' | 'embedding';

/** What `hearth models pull --defaults` (or the console's first run) downloaded; paths relative to dataDir/models. */
export interface RecordedDefaults {
  version: 1;
  models: {
    chat?: { path: string; source: string };
    caption?: { dir: string; source: string };
    image?: { dir: string; source: string };
    /** The embedding model for workspace knowledge; used only while the config lists channels to index. */
    embedding?: { dir: string; source: string };
  };
}

/** Where the recorded defaults live, relative to dataDir. */
export const RECORDED_DEFAULTS_FILE = 'models/defaults.json';

/**
 * Adds the recorded defaults to the config's tree for each kind of model the config does not name
 * (a config that names one always wins). Returns the kinds added.
 */
async function mergeRecordedDefaults(tree: unknown, cwd: string): Promise<DefaultKind[]> {
  if (tree === null || typeof tree !== 'object' || Array.isArray(tree)) return [];
  const t = tree as Record<string, unknown>;
  const models = t.models ?? {};
  if (models === null || typeof models !== 'object' || Array.isArray(models)) return [];
  const dataDir = resolve(cwd, typeof t.dataDir === 'string' && t.dataDir !== '' ? t.dataDir : './data');
  let rec: RecordedDefaults;
  try {
    rec = JSON.parse(await readFile(join(dataDir, RECORDED_DEFAULTS_FILE), 'utf8')) as RecordedDefaults;
  } catch {
    return [];
  }
  const m = models as Record<string, unknown>;
  const at = (p: string): string => resolve(dataDir, 'models', p);
  const added: DefaultKind[] = [];
  const { chat, caption, image, embedding } = rec.models ?? {};
  const add = (kind: DefaultKind, entry: Record<string, string>): void => {
    if (m[kind] !== undefined) return;
    m[kind] = entry;
    added.push(kind);
  };
  if (typeof chat?.path === 'string') add('chat', { path: at(chat.path) });
  if (typeof caption?.dir === 'string') add('caption', { dir: at(caption.dir), ...(typeof caption.source === 'string' ? { source: caption.source } : {}) });
  if (typeof image?.dir === 'string') add('image', { dir: at(image.dir) });
  // The embedding model serves workspace knowledge only: without channels to index it would be loaded
  // into the GPU worker for nothing, so it is used only while the config lists some.
  if (typeof embedding?.dir === 'string' && knowledgeConfigured(t.knowledge)) {
    add('embedding', { dir: at(embedding.dir), ...(typeof embedding.source === 'string' ? { source: embedding.source } : {}) });
  }
  t.models = m;
  return added;
}

/** The config's `knowledge` section lists channels to index on some platform (as written, before validation). */
export function knowledgeConfigured(knowledge: unknown): boolean {
  if (knowledge === null || typeof knowledge !== 'object') return false;
  const k = knowledge as Record<string, unknown>;
  return [k.slackChannels, k.discordChannels].some((c) => Array.isArray(c) && c.length > 0);
}

export interface LoadConfigOptions {
  /** A file named explicitly (e.g. `--config`); it must exist. */
  path?: string;
  /** Environment for `HEARTH_CONFIG` and `${NAME}` substitution; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Where relative paths (the config file's own, dataDir, model paths) are resolved; default `process.cwd()`. */
  cwd?: string;
  signal?: AbortSignal;
}

/** The file used when neither a path nor `HEARTH_CONFIG` names one; its absence means "all defaults". */
export const DEFAULT_CONFIG_PATH = 'config/hearth.yaml';

const MAX_ISSUES = 20;

/**
 * Loads and validates the configuration. Expected failures (missing named file, YAML syntax, unset
 * variables, invalid values) come back as a {@link ConfigError}; only an abort throws.
 */
export async function loadConfig(opts: LoadConfigOptions = {}): Promise<Result<LoadedConfig, ConfigError>> {
  const cwd = resolve(opts.cwd ?? process.cwd());
  const env = opts.env ?? process.env;
  const named = opts.path ? { file: opts.path, by: 'config file' } : env.HEARTH_CONFIG ? { file: env.HEARTH_CONFIG, by: 'HEARTH_CONFIG' } : null;
  const file = resolve(cwd, named?.file ?? DEFAULT_CONFIG_PATH);

  let text: string;
  try {
    text = await readFile(file, { encoding: 'utf8', ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ABORT_ERR') throw e;
    if (code === 'ENOENT' && named === null) {
      const tree: Record<string, unknown> = {};
      const defaults = await mergeRecordedDefaults(tree, cwd);
      return ok({ ...finish(configSchema.parse(tree), null, cwd), defaults });
    }
    const key = named?.by ?? 'config file';
    const problem = code === 'ENOENT' ? 'the file does not exist' : `the file cannot be read (${code ?? String(e)})`;
    return err(configError(file, [configIssue({
      key, expected: 'a readable YAML file', given: JSON.stringify(file),
      message: `${key}: ${problem}. Start from config/hearth.example.yaml, or name another file.`,
    })]));
  }

  const raw = parseYaml(text);
  if (!raw.ok) return err(configError(file, raw.error));

  const issues: ConfigIssue[] = [];
  const tree = substitute(raw.value, [], env, issues);
  if (issues.length > 0) return err(configError(file, issues as [ConfigIssue, ...ConfigIssue[]]));
  const defaults = await mergeRecordedDefaults(tree, cwd);

  const parsed = configSchema.safeParse(tree, { error: expectedWords, reportInput: true });
  if (!parsed.success) {
    const all = parsed.error.issues.flatMap(toConfigIssues).slice(0, MAX_ISSUES);
    return err(configError(file, all as [ConfigIssue, ...ConfigIssue[]]));
  }
  const loaded = finish(parsed.data, file, cwd);
  const adapterIssues = await checkAdapterFiles(loaded.config.models.chat?.adapters ?? {});
  if (adapterIssues.length > 0) return err(configError(file, adapterIssues as [ConfigIssue, ...ConfigIssue[]]));
  return ok({ ...loaded, defaults });
}

function finish(config: HearthConfig, path: string | null, cwd: string): LoadedConfig {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(cwd, p));
  config.dataDir = abs(config.dataDir);
  const { chat, image, caption, embedding } = config.models;
  if (chat && !chat.path.startsWith('hf:')) chat.path = abs(chat.path);
  for (const adapter of Object.values(chat?.adapters ?? {})) adapter.path = abs(adapter.path);
  if (image) image.dir = abs(image.dir);
  if (caption) caption.dir = abs(caption.dir);
  if (embedding) embedding.dir = abs(embedding.dir);
  return { config, path, baseDir: cwd };
}

// ---------------------------------------------------------------------------------------------
// YAML
// ---------------------------------------------------------------------------------------------

function parseYaml(text: string): Result<unknown, [ConfigIssue, ...ConfigIssue[]]> {
  // Integers as bigints, so a Discord id written without quotes keeps all its digits (see toPlain).
  const doc = parseDocument(text, { intAsBigInt: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const issues = doc.errors.slice(0, 5).map((e) => {
      const pos = e.linePos?.[0];
      const at = pos ? `line ${pos.line}, column ${pos.col}` : 'an unknown position';
      // yaml's message ends with a code frame of the offending line, which may hold a secret: keep the first clause.
      const what = (e.message.split(/ at line \d+/)[0] ?? e.code).trim();
      return configIssue({
        key: 'yaml', expected: 'valid YAML',
        message: `YAML syntax error at ${at}: ${what}. Check quoting and indentation (spaces, not tabs) there.`,
      });
    });
    return err(issues as [ConfigIssue, ...ConfigIssue[]]);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return err([configIssue({ key: 'yaml', expected: 'valid YAML', message: `YAML error: ${(e as Error).message}` })]);
  }
  if (value === null || value === undefined) return ok({});
  if (typeof value !== 'object' || Array.isArray(value)) {
    return err([configIssue({
      key: '(top level)', expected: 'a mapping of sections (dataDir, discord, slack, models, files, web, limits)',
      given: describeGiven('', value),
    })]);
  }
  return ok(value);
}

// ---------------------------------------------------------------------------------------------
// ${NAME} substitution
// ---------------------------------------------------------------------------------------------

const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${NAME}` / `${NAME:-default}` in string values (the parsed tree, so a value can't break
 * YAML quoting) and turns bigints back into numbers, or into digit strings when too large for one.
 * `$${` stays a literal `${`.
 */
function substitute(node: unknown, path: PropertyKey[], env: NodeJS.ProcessEnv, issues: ConfigIssue[]): unknown {
  if (typeof node === 'bigint') return Number.isSafeInteger(Number(node)) ? Number(node) : node.toString();
  if (typeof node === 'string') {
    return node.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined) => {
      if (name === undefined) return '${';
      const v = env[name];
      // As in the shell: `:-` also covers a variable that is set but empty.
      if (fallback !== undefined) return v ? v : fallback;
      if (v !== undefined) return v;
      const key = keyOf(path);
      issues.push(configIssue({
        key, expected: `environment variable ${name} to be set`,
        message: `${key}: environment variable ${name} is not set. Set it, or write \${${name}:-} to leave ${key} empty when it is unset.`,
      }));
      return match;
    });
  }
  if (Array.isArray(node)) return node.map((v, i) => substitute(v, [...path, i], env, issues));
  if (node !== null && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, substitute(v, [...path, k], env, issues)]));
  }
  return node;
}

// ---------------------------------------------------------------------------------------------
// zod issues → config issues
// ---------------------------------------------------------------------------------------------

/** Dotted key path with list positions in brackets: `files.allowedHosts[0]`. */
function keyOf(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

function quoteList(values: readonly unknown[]): string {
  const q = values.map((v) => JSON.stringify(v));
  return q.length <= 1 ? (q[0] ?? 'nothing') : `${q.slice(0, -1).join(', ')} or ${q[q.length - 1]}`;
}

interface SchemaInst {
  _zod?: { def?: { shape?: Record<string, unknown> } };
}

/**
 * The per-parse error map: the "expected" words for checks that don't carry their own. For unknown
 * keys it lists the keys the object allows (read from the object schema that raised the issue).
 */
function expectedWords(iss: z.core.$ZodRawIssue): string {
  switch (iss.code) {
    case 'invalid_type': {
      const words: Record<string, string> = {
        string: 'a string', number: 'a number', int: 'an integer', boolean: 'true or false',
        object: 'a mapping (indented key: value lines)', record: 'a mapping', array: 'a list',
      };
      return words[iss.expected] ?? `a ${iss.expected}`;
    }
    case 'invalid_value':
      return `one of ${quoteList(iss.values)}`;
    case 'too_small':
      if (iss.origin === 'string') return 'a non-empty string';
      if (iss.origin === 'array') return `a list with at least ${iss.minimum} entries`;
      return iss.inclusive ? `a number of at least ${iss.minimum}` : `a number greater than ${iss.minimum}`;
    case 'too_big':
      if (iss.origin === 'string') return `a string of at most ${iss.maximum} characters`;
      if (iss.origin === 'array') return `a list with at most ${iss.maximum} entries`;
      return iss.inclusive ? `a number of at most ${iss.maximum}` : `a number less than ${iss.maximum}`;
    case 'invalid_format':
      return iss.format === 'url' ? 'an http:// or https:// URL' : `a ${iss.format}`;
    case 'unrecognized_keys':
      return Object.keys((iss.inst as SchemaInst | undefined)?._zod?.def?.shape ?? {}).join(', ');
    case 'invalid_key':
      return 'string keys';
    default:
      return 'a valid value';
  }
}

/** Edit distance counting a swap of neighbours as one edit (optimal string alignment), ignoring case. */
function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const w = y.length + 1;
  const d = new Array<number>((x.length + 1) * w).fill(0);
  const at = (i: number, j: number) => d[i * w + j] ?? Infinity;
  for (let i = 0; i <= x.length; i++) d[i * w] = i;
  for (let j = 0; j <= y.length; j++) d[j] = j;
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      d[i * w + j] = best;
    }
  }
  return at(x.length, y.length);
}

/** The allowed key a typo ("tokne", "alowedHosts") most likely meant, if one is close enough. */
function closest(word: string, options: readonly string[]): string | undefined {
  let best: { o: string; d: number } | undefined;
  for (const o of options) {
    const d = editDistance(word, o);
    if (d <= Math.max(1, Math.floor(o.length / 3)) && (!best || d < best.d)) best = { o, d };
  }
  return best?.o;
}

const HINTS: Record<string, string> = {
  'web.port': 'Use 0 to let hearth pick a free port.',
  'models.chat.path': 'The chat runner loads GGUF models (llama.cpp); download a .gguf file or use an hf: URI.',
};

function toConfigIssues(iss: z.core.$ZodIssue): ConfigIssue[] {
  const key = keyOf(iss.path);
  if (iss.code === 'unrecognized_keys') {
    const allowed = iss.message.split(', ').filter(Boolean);
    const where = key === '' ? 'at the top level' : `in ${key}`;
    return iss.keys.map((k) => {
      const full = keyOf([...iss.path, k]);
      const guess = closest(k, allowed);
      const hint = guess ? `Did you mean "${guess}"?` : undefined;
      return configIssue({
        key: full, expected: `one of the keys ${where}: ${allowed.join(', ')}`, given: `unknown key ${JSON.stringify(k)}`, hint,
        message: `${full}: unknown key ${JSON.stringify(k)} ${where}.${hint ? ` ${hint}` : ''} Allowed keys ${where}: ${allowed.join(', ')}.`,
      });
    });
  }
  const params = iss.code === 'custom' ? (iss.params as { hint?: string; hidden?: boolean } | undefined) : undefined;
  // describeGiven hides values under secret keys; `hidden` covers checks that look at a secret from elsewhere.
  const given = params?.hidden && iss.input !== undefined ? '(hidden)' : describeGiven(key, iss.input);
  return [configIssue({ key: key || '(top level)', expected: iss.message, given, hint: params?.hint ?? HINTS[key] })];
}

// ---------------------------------------------------------------------------------------------
// Logging
// ---------------------------------------------------------------------------------------------

/** A deep copy with every set secret (token, botToken, appToken, signingSecret, …) replaced by `***`, for logs. */
export function redactConfig(cfg: HearthConfig): HearthConfig {
  const walk = (node: unknown, key: string): unknown => {
    if (typeof node === 'string') return isSecretKey(key) && node !== '' ? '***' : node;
    if (Array.isArray(node)) return node.map((v) => walk(v, ''));
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v, k)]));
    }
    return node;
  };
  return walk(cfg, '') as HearthConfig;
}
