/**
 * vitest globalSetup: the cluster tests start Debian's redis-server on a free port
 * (test/helpers/redis-server.ts). Where it is missing, it is installed as root with apt, as the
 * browser is (./browser.ts); elsewhere the run stops with the command to run. A run of other test
 * files only neither looks for it nor installs it.
 */
import { spawnSync } from 'node:child_process';
import { onPath } from './find-chromium.js';

export const REDIS_INSTALL_COMMAND = 'sudo apt-get update && sudo apt-get install -y redis-server';

function cliFilters(argv: readonly string[]): string[] {
  const i = argv.findIndex((a) => a === 'run' || a === 'watch' || a === 'dev');
  return argv.slice(i < 0 ? 2 : i + 1).filter((a) => !a.startsWith('-'));
}

export default function setup(): void {
  const filters = cliFilters(process.argv);
  if (filters.length > 0 && !filters.some((f) => 'test/integration/cluster.test.ts'.includes(f) || f.includes('cluster'))) return;
  if (onPath('redis-server', process.env)) return;
  const apt = onPath('apt-get', process.env);
  const why = !apt ? 'this machine has none (and no apt-get to install one)' : 'this machine has none (installing it needs root)';
  if (process.getuid?.() !== 0 || !apt) throw new Error(`The cluster tests need redis-server, and ${why}.\nInstall it with:\n    ${REDIS_INSTALL_COMMAND}`);
  process.stderr.write("The cluster tests need redis-server: installing Debian's redis-server (apt-get install -y redis-server)…\n");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', 'redis-server']]) {
    const r = spawnSync(apt, args, { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 15 * 60_000 });
    if (r.status !== 0) throw new Error(`\`apt-get ${args.join(' ')}\` failed (${(r.stderr ?? '').trim().split('\n').pop() ?? `exit ${r.status}`}); install it with:\n    ${REDIS_INSTALL_COMMAND}`);
  }
  if (!onPath('redis-server', process.env)) throw new Error(`redis-server is still not on PATH after apt-get; install it with:\n    ${REDIS_INSTALL_COMMAND}`);
}
