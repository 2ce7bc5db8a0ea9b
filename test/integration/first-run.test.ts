/**
 * The first run against a fake model hub on 127.0.0.1: the recommended defaults offered with their
 * sizes, downloaded with progress (the CLI's bar, the console's polled progress), resumed after an
 * interruption, refused on a bad checksum, recorded and used at the next start with no config; and a
 * hub that cannot be reached said in one line, at once.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HearthApp } from '../../src/app/hearth-app.js';
import { WebConsole } from '../../src/bots/web/web-adapter.js';
import { planDefaults, pullDefaults, readRecord } from '../../src/cli/defaults.js';
import { loadConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { InProcessExecutor } from '../../src/engine/executor/in-process-executor.js';
import { SqliteStore } from '../../src/engine/store/sqlite-store.js';
import { ConsoleClient } from '../browser/support/http-client.js';
import { FakeModelHub } from '../fakes/model-hub.js';
import { writeTinyVitGpt2 } from '../fixtures/tiny-captioner.js';
import { writeTinyGguf } from '../fixtures/tiny-gguf.js';
import { writeTinySd } from '../fixtures/tiny-sd.js';
import { LogCapture } from '../helpers/log-capture.js';

const TSX = fileURLToPath(new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const CHAT_REPO = 'Qwen/Qwen2.5-0.5B-Instruct-GGUF';
const CHAT_FILE = 'qwen2.5-0.5b-instruct-q4_k_m.gguf';
const GPU = { bytes: 12e9, source: 'config' } as const;

const root = mkdtempSync(join(tmpdir(), 'hearth-first-run-'));
let hub: FakeModelHub;
let gguf: Buffer;

function hearth(args: string[], cwd = root): Promise<{ code: number | null; out: string; err: string; ms: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], { cwd, env: { ...process.env, HEARTH_CONFIG: '', HF_ENDPOINT: '' } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err, ms: performance.now() - t0 })));
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

beforeAll(async () => {
  hub = new FakeModelHub();
  await writeTinyGguf(join(root, 'tiny.gguf'));
  gguf = readFileSync(join(root, 'tiny.gguf'));
  hub.add(CHAT_REPO, CHAT_FILE, gguf);
  hub.add(CHAT_REPO, 'README.md', Buffer.from('# not downloaded\n'));
  hub.add(CHAT_REPO, 'qwen2.5-0.5b-instruct-fp16.gguf', randomBytes(4096));
  await writeTinyVitGpt2(join(root, 'hub-caption'));
  await hub.addFolder('Xenova/vit-gpt2-image-captioning', join(root, 'hub-caption'));
  await writeTinySd(join(root, 'hub-sd'));
  await hub.addFolder('onnxruntime/sd-turbo', join(root, 'hub-sd'));
  await hub.start();
});

afterAll(async () => {
  await hub?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('hearth models pull --defaults', () => {
  it('names each size first, downloads with progress, records the models, and the next start uses them with no model in the config', async () => {
    const dataDir = join(root, 'cli-data');
    const cfg = join(root, 'cli.yaml');
    writeFileSync(cfg, `dataDir: ${dataDir}\nmodels:\n  vramBudgetMB: 12000\n`);
    const r = await hearth(['models', 'pull', '--defaults', '--config', cfg, '--endpoint', hub.endpoint]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    const sizeLine = lines.findIndex((l) => /^ {2}chat +[\d.]+ MB {2}Qwen2\.5-0\.5B-Instruct/.test(l));
    const firstBar = lines.findIndex((l) => /^chat +\s*\d+\.\d%/.test(l));
    expect(sizeLine).toBeGreaterThan(0);
    expect(firstBar).toBeGreaterThan(sizeLine);
    expect(lines.some((l) => /^ {2}caption +[\d.]+ MB/.test(l))).toBe(true);
    expect(lines.some((l) => /^ {2}image +[\d.]+ MB {2}SD-Turbo/.test(l))).toBe(true);
    expect(r.out).toMatch(/chat +100\.0%/);
    expect(r.out).toMatch(/image +100\.0%/);
    expect(r.out).toContain('the next `hearth start` uses them with no config');
    expect(readFileSync(join(dataDir, 'models', CHAT_FILE)).equals(gguf)).toBe(true);
    expect(existsSync(join(dataDir, 'models', 'README.md'))).toBe(false);
    expect(existsSync(join(dataDir, 'models', 'caption/vit-gpt2-image-captioning/onnx/decoder_model_merged.onnx'))).toBe(true);
    expect(existsSync(join(dataDir, 'models', 'image/sd-turbo/unet/model.onnx'))).toBe(true);

    // The next start: the config names no model, the recorded ones are used.
    const loaded = await loadConfig({ path: cfg, env: {} });
    if (!loaded.ok) throw new Error('config did not load');
    expect(loaded.value.defaults).toEqual(['chat', 'caption', 'image']);
    expect(loaded.value.config.models.chat?.path).toBe(join(dataDir, 'models', CHAT_FILE));
    expect(loaded.value.config.models.caption?.dir).toBe(join(dataDir, 'models', 'caption/vit-gpt2-image-captioning'));
    expect(loaded.value.config.models.image?.dir).toBe(join(dataDir, 'models', 'image/sd-turbo'));
    // A config that names a model keeps it.
    writeFileSync(cfg, `dataDir: ${dataDir}\nmodels:\n  chat:\n    path: /elsewhere/mine.gguf\n`);
    const own = await loadConfig({ path: cfg, env: {} });
    if (!own.ok) throw new Error('config did not load');
    expect(own.value.config.models.chat?.path).toBe('/elsewhere/mine.gguf');
    expect(own.value.defaults).toEqual(['caption', 'image']);

    // Pulling again downloads nothing more.
    const before = hub.requests.filter((q) => q.path.includes('/resolve/')).length;
    writeFileSync(cfg, `dataDir: ${dataDir}\nmodels:\n  vramBudgetMB: 12000\n`);
    const again = await hearth(['models', 'pull', '--defaults', '--config', cfg, '--endpoint', hub.endpoint]);
    expect(again.code).toBe(0);
    expect(hub.requests.filter((q) => q.path.includes('/resolve/')).length).toBe(before);
  });

  it('with no route to the hub, says so in one line at once (no retries for minutes), for --defaults and for a configured hf: model', async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const cfg = join(root, 'offline.yaml');
    writeFileSync(cfg, `dataDir: ${join(root, 'offline-data')}\n`);
    const r = await hearth(['models', 'pull', '--defaults', '--config', cfg, '--endpoint', endpoint]);
    expect(r.code).toBe(1);
    const errLines = r.err.trim().split('\n');
    expect(errLines).toHaveLength(1);
    expect(errLines[0]).toMatch(/^hearth: cannot reach the model hub at 127\.0\.0\.1:\d+ \(ECONNREFUSED\): check the network, or use a mirror with --endpoint/);
    expect(r.ms).toBeLessThan(20_000);

    writeFileSync(cfg, `dataDir: ${join(root, 'offline-data')}\nmodels:\n  chat:\n    path: hf:someone/some-GGUF/some.gguf\n`);
    const named = await hearth(['models', 'pull', '--config', cfg, '--endpoint', endpoint]);
    expect(named.code).toBe(1);
    expect(named.err.trim().split('\n')).toHaveLength(1);
    expect(named.err).toContain('cannot reach the model hub at 127.0.0.1');
    expect(named.ms).toBeLessThan(20_000);
  });
});

describe('the defaults downloader', () => {
  it('resumes an interrupted download from where it stopped (a Range request), and finishes a file cut off mid-way in the same pull', async () => {
    const dataDir = join(root, 'resume-data');
    const plan = await planDefaults({ endpoint: hub.endpoint, kinds: ['chat', 'caption'], budget: GPU });
    expect(plan.offered.map((p) => [p.model.kind, p.bytes])).toEqual([['chat', gguf.length], ['caption', expect.any(Number) as number]]);
    hub.slowChunk = 32 * 1024;
    const stop = new AbortController();
    const first = await pullDefaults(plan, {
      dataDir,
      signal: stop.signal,
      onProgress: (p) => {
        if (p.kind === 'chat' && p.done >= gguf.length / 2) stop.abort(new Error('stopped by the user'));
      },
    }).catch((e: unknown) => e);
    hub.slowChunk = 0;
    expect((first as Error).message).toBe('stopped by the user');
    const part = join(dataDir, 'models', `${CHAT_FILE}.part`);
    const kept = statSync(part).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(gguf.length);
    expect((await readRecord(dataDir)).models.chat).toBeUndefined();

    hub.cutOnce.add('Xenova/vit-gpt2-image-captioning/onnx/encoder_model.onnx');
    const progress: number[] = [];
    const from = hub.requests.length;
    const rec = await pullDefaults(plan, { dataDir, onProgress: (p) => progress.push(p.allDone) });
    const asked = hub.requests.slice(from);
    expect(asked.find((q) => q.path.endsWith(CHAT_FILE))?.range).toBe(`bytes=${kept}-`);
    // The cut file was asked for again in the same pull: from the bytes it had kept, when any had
    // reached the disk before the cut (how many did depends on the machine's timing).
    const encoder = asked.filter((q) => q.path.endsWith('encoder_model.onnx'));
    expect(encoder).toHaveLength(2);
    expect(encoder[0]!.range).toBeUndefined();
    if (encoder[1]!.range !== undefined) expect(encoder[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(readFileSync(join(dataDir, 'models', CHAT_FILE)).equals(gguf)).toBe(true);
    expect(existsSync(part)).toBe(false);
    expect(progress.at(-1)).toBe(plan.bytes);
    expect(rec.models).toEqual({
      chat: { path: CHAT_FILE, source: `hf:${CHAT_REPO}` },
      caption: { dir: 'caption/vit-gpt2-image-captioning', source: 'hf:Xenova/vit-gpt2-image-captioning' },
    });
  });

  it('refuses a file that does not match the checksum in the hub metadata, deletes it, and records nothing', async () => {
    const dataDir = join(root, 'bad-data');
    hub.wrongChecksum.add(`${CHAT_REPO}/${CHAT_FILE}`);
    try {
      const plan = await planDefaults({ endpoint: hub.endpoint, kinds: ['chat'], budget: GPU });
      const e = await pullDefaults(plan, { dataDir }).catch((x: unknown) => x);
      expect((e as Error).message).toMatch(new RegExp(`^${CHAT_FILE.replace(/\./g, '\\.')} from ${CHAT_REPO} does not match the hub's checksum \\(sha256 expected [0-9a-f]{64}, got [0-9a-f]{64}\\); refused and deleted`));
      expect(existsSync(join(dataDir, 'models', CHAT_FILE))).toBe(false);
      expect(existsSync(join(dataDir, 'models', `${CHAT_FILE}.part`))).toBe(false);
      expect((await readRecord(dataDir)).models).toEqual({});
    } finally {
      hub.wrongChecksum.clear();
    }
  });
});

describe('the console on a first run', () => {
  it('offers the defaults with their sizes, downloads them with live progress, and the next start uses them', async () => {
    const cwd = join(root, 'console');
    const dataDir = join(cwd, 'data');
    const config = configSchema.parse({ dataDir, web: { port: 0 } });
    const logs = new LogCapture();
    let web: WebConsole | undefined;
    const app = new HearthApp({
      config,
      log: logs.log,
      executor: new InProcessExecutor([]),
      vramBudgetBytes: 12e9,
      adapters: [(ctx) => (web = new WebConsole(ctx, { firstRun: { endpoint: hub.endpoint, budget: () => ({ bytes: 16e9, source: 'system memory (no GPU found)' }) } }))],
      store: SqliteStore.open(join(root, 'console.db')),
    });
    await app.start();
    try {
      const c = await new ConsoleClient(web!.url()).visit();
      const info = (await (await c.fetch('/api/info')).json()) as { available: Record<string, boolean> };
      expect(info.available).toEqual({ ask: false, imagine: false, caption: false });
      const page = await (await c.fetch('/static/console.js')).text();
      expect(page).toContain("from './first-run.js'");
      expect((await c.fetch('/static/first-run.js')).status).toBe(200);

      const status = async (): Promise<Record<string, unknown> & { state: string; offered: Array<{ kind: string; bytes: number; done: number; approxBytes?: number }> }> =>
        (await (await c.fetch('/api/setup')).json()) as never;
      const idle = await status();
      expect(idle.state).toBe('idle');
      expect(idle.missing).toEqual(['chat', 'caption', 'image']);
      expect(idle.offered.map((o) => o.kind)).toEqual(['chat', 'caption', 'image']);
      expect(idle.offered.every((o) => (o.approxBytes ?? 0) > 0)).toBe(true);

      expect((await c.post('/api/setup/plan', {})).status).toBe(200);
      let s = await status();
      while (s.state === 'planning') s = await status();
      expect(s.state).toBe('offered');
      expect(s.offered.map((o) => [o.kind, o.bytes])).toEqual([['chat', gguf.length], ['caption', expect.any(Number) as number]]);
      expect(s.skipped).toEqual([{ kind: 'image', name: 'SD-Turbo (ONNX, fp16)', why: expect.stringContaining('no GPU found') as string }]);

      hub.slowChunk = 16 * 1024;
      expect((await c.post('/api/setup/pull', {})).status).toBe(202);
      let partial = false;
      while ((s = await status()).state === 'downloading') partial ||= s.offered.some((o) => o.done > 0 && o.done < o.bytes);
      hub.slowChunk = 0;
      expect(s.state).toBe('done');
      expect(partial).toBe(true);
      expect(s.offered.every((o) => o.done === o.bytes)).toBe(true);
    } finally {
      hub.slowChunk = 0;
      await app.close();
      app.store.close();
    }
    // The next start, with no config file at all: dataDir is ./data, and the recorded models are in it.
    const next = await loadConfig({ cwd, env: {} });
    if (!next.ok) throw new Error('config did not load');
    expect(next.value.path).toBeNull();
    expect(next.value.config.models.chat?.path).toBe(join(dataDir, 'models', CHAT_FILE));
    expect(next.value.config.models.caption?.dir).toBe(join(dataDir, 'models', 'caption/vit-gpt2-image-captioning'));
    expect(next.value.config.models.image).toBeUndefined();
  });
});
