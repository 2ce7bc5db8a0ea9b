/**
 * `hearth service`: the systemd unit for this install, with absolute paths to node, hearth and the
 * config, restart on failure, the tokens' environment file and hardening.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { serviceUnit } from '../../src/cli/service.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const MAIN = join(ROOT, 'src/cli/main.ts');
const TSX = join(ROOT, 'node_modules/tsx/dist/loader.mjs');
const dir = mkdtempSync(join(tmpdir(), 'hearth-service-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function hearth(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', TSX, MAIN, ...args], { encoding: 'utf8', cwd, env: { ...process.env, HEARTH_CONFIG: '', ...env }, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The unit's `Key=value` lines of one section. */
function section(unit: string, name: string): Map<string, string> {
  const body = unit.split(`[${name}]\n`)[1]!.split('\n[')[0]!;
  const out = new Map<string, string>();
  for (const line of body.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

describe('hearth service', () => {
  it('prints a unit for this install: absolute node, bin and config, the working directory, restart on failure, the tokens file', () => {
    mkdirSync(join(dir, 'config'));
    writeFileSync(join(dir, 'config', 'my.yaml'), 'web:\n  port: 8080\n');
    const r = hearth(['service', '--config', 'config/my.yaml', '--user', 'hearth'], dir);
    expect(r.code).toBe(0);
    const svc = section(r.out, 'Service');
    expect(svc.get('ExecStart')).toBe(`${process.execPath} ${ROOT}/bin/hearth.js start --config ${dir}/config/my.yaml`);
    expect(svc.get('WorkingDirectory')).toBe(dir);
    expect(svc.get('Restart')).toBe('on-failure');
    expect(svc.get('EnvironmentFile')).toBe(`-${dir}/config/hearth.env`);
    expect(svc.get('User')).toBe('hearth');
    expect(svc.get('NoNewPrivileges')).toBe('true');
    expect(svc.get('ProtectSystem')).toBe('full');
    expect(svc.has('PrivateDevices')).toBe(false);
    expect(section(r.out, 'Install').get('WantedBy')).toBe('multi-user.target');
    expect(section(r.out, 'Unit').get('After')).toBe('network-online.target');
    expect(r.out).toContain('sudo systemctl enable --now hearth');
  });

  it('takes $HEARTH_CONFIG and --tokens-file, and runs with the defaults when there is no config', () => {
    const viaEnv = hearth(['service', '--tokens-file', '/etc/hearth/tokens.env'], dir, { HEARTH_CONFIG: 'config/my.yaml' });
    expect(section(viaEnv.out, 'Service').get('ExecStart')).toMatch(/ start --config .*\/config\/my\.yaml$/);
    expect(section(viaEnv.out, 'Service').get('EnvironmentFile')).toBe('-/etc/hearth/tokens.env');
    const bare = mkdtempSync(join(dir, 'bare-'));
    const none = hearth(['service'], bare);
    expect(none.code).toBe(0);
    expect(section(none.out, 'Service').get('ExecStart')).toMatch(/bin\/hearth\.js start$/);
    expect(none.err).toContain('no config/hearth.yaml here');
    expect(hearth(['--help'], dir).out).toContain('service');
  });

  it('quotes paths with spaces for systemd', () => {
    const unit = serviceUnit({ node: '/opt/my node/bin/node', bin: '/srv/hearth/bin/hearth.js', config: '/srv/hearth/my config.yaml', workingDirectory: '/srv/hearth', environmentFile: '/srv/hearth/hearth.env', user: 'hearth' });
    expect(section(unit, 'Service').get('ExecStart')).toBe('"/opt/my node/bin/node" /srv/hearth/bin/hearth.js start --config "/srv/hearth/my config.yaml"');
  });
});
