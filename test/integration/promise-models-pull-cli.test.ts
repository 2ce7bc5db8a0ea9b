/**
 * README, Command line: `hearth models pull [--config FILE] [--endpoint URL]` downloads the chat (hf:)
 * model, and "Exit codes: 0 ok, 1 failure, 2 invalid config, 64 bad usage" (src/cli/exit-codes.ts).
 *
 * The real command (src/cli/main.ts under tsx, as `npx hearth` runs it) against a fake hub on
 * 127.0.0.1 given with `--endpoint`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyGguf } from '../fixtures/tiny-gguf.js';
import { FakeHub } from '../helpers/fake-hub.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TSX = fileURLToPath(new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url));
const EXIT = { ok: 0, failure: 1, config: 2, usage: 64 };

const dir = mkdtempSync(join(tmpdir(), 'hearth-pull-cli-'));
let hub: FakeHub;
let gguf: Buffer;

beforeAll(async () => {
  await writeTinyGguf(join(dir, 'tiny.gguf'));
  gguf = readFileSync(join(dir, 'tiny.gguf'));
  hub = await new FakeHub().start();
  hub.files.set('/someone/tiny-GGUF/resolve/main/tiny.gguf', gguf);
});

afterAll(async () => {
  await hub?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `hearth …` to its end (without blocking the fake hub, which runs in this process). */
function hearth(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], { cwd: dir, env: { ...process.env, HEARTH_CONFIG: '' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

function config(name: string, chatPath: string, extra = ''): { file: string; dataDir: string } {
  const dataDir = join(dir, `${name}-data`);
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `dataDir: ${dataDir}\nmodels:\n  chat:\n    path: ${chatPath}\n${extra}`);
  return { file, dataDir };
}

describe('hearth models pull: exit codes', () => {
  it('0 when the chat model downloads from the endpoint; the file is the hub’s, byte for byte', async () => {
    const { file, dataDir } = config('ok', 'hf:someone/tiny-GGUF/tiny.gguf');
    const r = await hearth(['models', 'pull', '--config', file, '--endpoint', hub.endpoint]);
    expect(r.err).toBe('');
    expect(r.code).toBe(EXIT.ok);
    expect(r.out).toMatch(/chat model ready: .*tiny\.gguf/);
    const path = /chat model ready: (.*)$/m.exec(r.out)![1]!.trim();
    expect(path.startsWith(join(dataDir, 'models'))).toBe(true);
    expect(readFileSync(path).equals(gguf)).toBe(true);
    expect(hub.requests.some((q) => q.endsWith('/someone/tiny-GGUF/resolve/main/tiny.gguf'))).toBe(true);
  });

  it('0 with nothing to download when the chat model is a local file', async () => {
    const { file } = config('local', join(dir, 'tiny.gguf'));
    const r = await hearth(['models', 'pull', '--config', file, '--endpoint', hub.endpoint]);
    expect(r.code).toBe(EXIT.ok);
    expect(r.out).toContain('nothing to download');
  });

  it('1 when the endpoint does not have the file, naming the model and how to resume', async () => {
    const { file, dataDir } = config('missing', 'hf:someone/tiny-GGUF/absent.gguf');
    const r = await hearth(['models', 'pull', '--config', file, '--endpoint', hub.endpoint]);
    expect(r.code).toBe(EXIT.failure);
    expect(r.err).toContain('could not download the chat model hf:someone/tiny-GGUF/absent.gguf');
    expect(r.err).toContain('Run the same command again');
    expect(existsSync(join(dataDir, 'models', 'absent.gguf'))).toBe(false);
  });

  it('2 on an invalid config, naming the key', async () => {
    const { file } = config('bad', 'hf:someone/tiny-GGUF/tiny.gguf', '    parallel: 0\n');
    const r = await hearth(['models', 'pull', '--config', file, '--endpoint', hub.endpoint]);
    expect(r.code).toBe(EXIT.config);
    expect(r.err).toContain('models.chat.parallel');
  });

  it('64 on bad usage: an unknown option, or --endpoint without its URL', async () => {
    const { file } = config('usage', 'hf:someone/tiny-GGUF/tiny.gguf');
    const unknown = await hearth(['models', 'pull', '--config', file, '--mirror', hub.endpoint]);
    expect(unknown.code).toBe(EXIT.usage);
    expect(unknown.err).toMatch(/unknown option '--mirror'/);
    const bare = await hearth(['models', 'pull', '--config', file, '--endpoint']);
    expect(bare.code).toBe(EXIT.usage);
    expect(bare.err).toMatch(/--endpoint/);
  });
});
