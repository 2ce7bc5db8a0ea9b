/**
 * `hearth models pull --defaults` and the embedding model (README "Workspace knowledge"): offered where
 * the config lists channels to index, downloaded from the hub (the fake one on 127.0.0.1, serving the
 * tiny embedder the fixtures write under the default's name), recorded in dataDir/models/defaults.json
 * and used at the next start as `models.embedding.dir` with no model in the config; without knowledge
 * channels it is named with a note and not downloaded. The real command (src/cli/main.ts under tsx),
 * with its exit codes: 0 ok, 1 failure, 2 invalid config.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRecord } from '../../src/cli/defaults.js';
import { loadConfig } from '../../src/config/load.js';
import { inspectEmbedFolder } from '../../src/runners/embed/model-folder.js';
import { FakeModelHub } from '../fakes/model-hub.js';
import { writeTinyEmbedder } from '../fixtures/tiny-embedder.js';

const TSX = fileURLToPath(new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const REPO = 'Xenova/all-MiniLM-L6-v2';
const FOLDER = 'embedding/all-MiniLM-L6-v2';
const EXIT = { ok: 0, failure: 1, config: 2 };

const root = mkdtempSync(join(tmpdir(), 'hearth-defaults-embed-'));
let hub: FakeModelHub;

function hearth(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], { cwd: root, env: { ...process.env, HEARTH_CONFIG: '', HF_ENDPOINT: '' } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

/**
 * A config whose chat, caption and image models are named (so `--defaults` plans only the embedding
 * model), with `knowledge` as given.
 */
function config(name: string, knowledge: string): { file: string; dataDir: string } {
  const dataDir = join(root, `${name}-data`);
  const file = join(root, `${name}.yaml`);
  writeConfig(file, dataDir, knowledge);
  return { file, dataDir };
}

function writeConfig(file: string, dataDir: string, knowledge: string): void {
  writeFileSync(
    file,
    `dataDir: ${dataDir}\nmodels:\n  chat:\n    path: ${join(root, 'chat.gguf')}\n  caption:\n    dir: ${join(root, 'caption')}\n  image:\n    dir: ${join(root, 'image')}\n${knowledge}`,
  );
}

beforeAll(async () => {
  await writeTinyEmbedder(join(root, 'hub-embedder'));
  hub = new FakeModelHub();
  await hub.addFolder(REPO, join(root, 'hub-embedder'));
  hub.add(REPO, 'README.md', Buffer.from('# not downloaded\n'));
  hub.add(REPO, 'onnx/model_quantized.onnx', Buffer.alloc(4096, 1));
  await hub.start();
});

afterAll(async () => {
  await hub?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('hearth models pull --defaults: the embedding model', () => {
  it('where knowledge channels are configured: offered with its size, downloaded, recorded; the next start uses it as models.embedding.dir', async () => {
    const { file, dataDir } = config('knowledge', 'knowledge:\n  slackChannels: [C0001]\n');
    const r = await hearth(['models', 'pull', '--defaults', '--config', file, '--endpoint', hub.endpoint]);
    expect(r.err).toBe('');
    expect(r.code).toBe(EXIT.ok);
    const lines = r.out.split('\n');
    const sizeLine = lines.findIndex((l) => /^ {2}embedding +[\d.]+ MB {2}all-MiniLM-L6-v2 sentence embeddings/.test(l));
    expect(sizeLine).toBeGreaterThan(0);
    expect(lines.findIndex((l) => /^embedding +100\.0%/.test(l))).toBeGreaterThan(sizeLine);
    for (const kind of ['chat', 'caption', 'image']) expect(r.out).toContain(`${kind}: configured already`);

    const dir = join(dataDir, 'models', FOLDER);
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx']) {
      expect(readFileSync(join(dir, f)).equals(hub.repos.get(REPO)!.get(f)!.body)).toBe(true);
    }
    // Only what transformers.js needs: not the README, not the other precisions.
    expect(existsSync(join(dir, 'README.md'))).toBe(false);
    expect(existsSync(join(dir, 'onnx/model_quantized.onnx'))).toBe(false);
    expect((await readRecord(dataDir)).models).toEqual({ embedding: { dir: FOLDER, source: `hf:${REPO}` } });

    const loaded = await loadConfig({ path: file, env: {} });
    if (!loaded.ok) throw new Error('config did not load');
    expect(loaded.value.defaults).toEqual(['embedding']);
    expect(loaded.value.config.models.embedding).toMatchObject({ dir, source: `hf:${REPO}` });
    expect(await inspectEmbedFolder(dir)).toMatchObject({ file: 'onnx/model.onnx', dtype: 'fp32' });

    // Pulled again: nothing more is downloaded, and the recorded model is not "configured already".
    const before = hub.requests.filter((q) => q.path.includes('/resolve/')).length;
    const again = await hearth(['models', 'pull', '--defaults', '--config', file, '--endpoint', hub.endpoint]);
    expect(again.code).toBe(EXIT.ok);
    expect(again.out).not.toContain('embedding: configured already');
    expect(hub.requests.filter((q) => q.path.includes('/resolve/')).length).toBe(before);

    // Knowledge turned off later: the recorded model is no longer loaded.
    writeConfig(file, dataDir, '');
    const off = await loadConfig({ path: file, env: {} });
    if (!off.ok) throw new Error('config did not load');
    expect(off.value.config.models.embedding).toBeUndefined();
    expect(off.value.defaults).toEqual([]);
  });

  it('without knowledge channels: named with a note saying why and what to do, and nothing is downloaded', async () => {
    const { file, dataDir } = config('no-knowledge', '');
    const from = hub.requests.length;
    const r = await hearth(['models', 'pull', '--defaults', '--config', file, '--endpoint', hub.endpoint]);
    expect(r.code).toBe(EXIT.ok);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^embedding: not needed yet: it serves workspace knowledge, and knowledge\.slackChannels and knowledge\.discordChannels are empty; list channels to index, then run this again$/m);
    expect(hub.requests.slice(from)).toEqual([]);
    expect(existsSync(join(dataDir, 'models', FOLDER))).toBe(false);
  });

  it('1 when a file does not match the hub’s checksum: refused, deleted, nothing recorded', async () => {
    const { file, dataDir } = config('bad', 'knowledge:\n  discordChannels: ["123456789012345678"]\n');
    hub.wrongChecksum.add(`${REPO}/onnx/model.onnx`);
    try {
      const r = await hearth(['models', 'pull', '--defaults', '--config', file, '--endpoint', hub.endpoint]);
      expect(r.code).toBe(EXIT.failure);
      expect(r.err).toMatch(/onnx\/model\.onnx from Xenova\/all-MiniLM-L6-v2 does not match the hub's checksum/);
      expect(existsSync(join(dataDir, 'models', FOLDER, 'onnx/model.onnx'))).toBe(false);
      expect((await readRecord(dataDir)).models).toEqual({});
    } finally {
      hub.wrongChecksum.clear();
    }
  });

  it('2 on an invalid knowledge config, naming the key; nothing is asked of the hub', async () => {
    const { file } = config('invalid', 'knowledge:\n  slackChannels: C0001\n');
    const from = hub.requests.length;
    const r = await hearth(['models', 'pull', '--defaults', '--config', file, '--endpoint', hub.endpoint]);
    expect(r.code).toBe(EXIT.config);
    expect(r.err).toContain('knowledge.slackChannels');
    expect(hub.requests.slice(from)).toEqual([]);
  });
});
