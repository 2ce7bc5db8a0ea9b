import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TSX = fileURLToPath(new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hearth-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function hearth(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', TSX, MAIN, ...args], {
    encoding: 'utf8',
    cwd: dir,
    env: { ...process.env, HEARTH_CONFIG: '', ...env },
    timeout: 120_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function config(name: string, yaml: string): string {
  const path = join(dir, name);
  writeFileSync(path, yaml);
  return path;
}

describe('the hearth command', () => {
  it('prints help for itself and each command, and exits 0', () => {
    const top = hearth(['--help']);
    expect(top.code).toBe(0);
    for (const c of ['start', 'doctor', 'models']) expect(top.out).toContain(c);
    expect(top.out).toContain('Exit codes');
    const doctor = hearth(['doctor', '--help']);
    expect(doctor.code).toBe(0);
    expect(doctor.out).toContain('--config');
  });

  it('prints the Slack app manifest with the scopes and commands hearth uses', () => {
    const r = hearth(['slack-manifest']);
    expect(r.code).toBe(0);
    const manifest = JSON.parse(r.out) as { oauth_config: { scopes: { bot: string[] } }; features: { slash_commands: Array<{ command: string }> } };
    expect(manifest.oauth_config.scopes.bot).toContain('files:write');
    expect(manifest.features.slash_commands.map((c) => c.command)).toEqual(['/ask', '/imagine', '/hearth']);
  });

  it('exits 64 on an unknown command', () => {
    const r = hearth(['launch']);
    expect(r.code).toBe(64);
    expect(r.err).toMatch(/unknown command 'launch'/);
  });

  it('refuses a bad config with exit code 2, naming the key, what was given and what is expected', () => {
    const path = config('bad.yaml', 'models:\n  chat:\n    path: ./m.gguf\n    parallel: 0\n');
    const r = hearth(['start', '--config', path]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('models.chat.parallel');
    expect(r.err).toContain('expected an integer from 1 to 64, got 0');
  });

  it('refuses a web console beyond loopback without a token, naming web.token', () => {
    const path = config('open.yaml', 'web:\n  host: 0.0.0.0\n');
    const r = hearth(['start', '--config', path]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('web.token');
  });

  it('refuses a web console beyond loopback with a token under 16 characters, naming web.token and not printing it', () => {
    const path = config('short.yaml', 'web:\n  host: 0.0.0.0\n  token: short-S3CRET\n');
    const r = hearth(['start', '--config', path]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('web.token: expected an access token of at least 16 characters');
    expect(r.err + r.out).not.toContain('short-S3CRET');
  });

  it('takes the config file from HEARTH_CONFIG, and says so when it does not exist', () => {
    const r = hearth(['start'], { HEARTH_CONFIG: join(dir, 'nope.yaml') });
    expect(r.code).toBe(2);
    expect(r.err).toContain('nope.yaml');
    expect(r.err).toContain('HEARTH_CONFIG');
  });

  it('doctor reports a missing model file with exit code 3 and the path', () => {
    const path = config('missing-model.yaml', `dataDir: ${join(dir, 'data')}\nmodels:\n  chat:\n    path: ${join(dir, 'absent.gguf')}\n`);
    const r = hearth(['doctor', '--config', path]);
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/✗ chat model \(models\.chat\.path\): .*absent\.gguf: does not exist/);
    expect(r.out).toMatch(/llama\.cpp/);
    expect(r.out).toMatch(/ONNX Runtime/);
  });

  it('start with no platform credentials serves the web console, prints its URL on a line of its own, and stops on SIGTERM', async () => {
    const path = config('console.yaml', `dataDir: ${join(dir, 'console-data')}\nweb:\n  port: 0\n`);
    const child = spawn(process.execPath, ['--import', TSX, MAIN, 'start', '--config', path], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    let url = '';
    const lines: string[] = [];
    for await (const line of createInterface({ input: child.stdout })) {
      lines.push(line);
      if (/^http:\/\/127\.0\.0\.1:\d+\/$/.test(line)) {
        url = line;
        break;
      }
    }
    expect(lines.join('\n')).toMatch(/Discord: not configured/);
    expect(url).not.toBe('');
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
