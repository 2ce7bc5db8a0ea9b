/**
 * Finding (and where possible installing) the Chromium or Chrome the browser tests drive, so that
 * `npm test` works on a fresh machine. Used by the vitest globalSetup in ./browser.ts.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Program names tried on PATH, in order (Debian's package first: the tests were written against it). */
export const BROWSER_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable', 'chrome'];
/** Places outside PATH where a browser is commonly installed. */
export const BROWSER_PATHS = ['/usr/bin/chromium', '/snap/bin/chromium', '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome', '/Applications/Chromium.app/Contents/MacOS/Chromium'];

/** The exact command that installs what the tests need on Debian or Ubuntu. */
export const INSTALL_COMMAND = 'sudo apt-get update && sudo apt-get install -y chromium';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** A program on the PATH of `env`, or undefined. */
export function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * The browser to drive: `HEARTH_CHROMIUM` when set (it must be executable), else the first of
 * {@link BROWSER_NAMES} on PATH, else one of {@link BROWSER_PATHS}.
 */
export function findBrowser(env: NodeJS.ProcessEnv = process.env, known: readonly string[] = BROWSER_PATHS): string | undefined {
  const named = env.HEARTH_CHROMIUM;
  if (named) {
    if (!executable(named)) throw new Error(`HEARTH_CHROMIUM is ${named}, which is not an executable file`);
    return named;
  }
  for (const name of BROWSER_NAMES) {
    const found = onPath(name, env);
    if (found) return found;
  }
  return known.find(executable);
}

/** Why no browser could be found, and the exact command to run. */
export function missingBrowserMessage(why: string): string {
  return (
    `The browser tests need Chromium or Chrome, and ${why}.\n` +
    `Install it with:\n    ${INSTALL_COMMAND}\n` +
    'or point HEARTH_CHROMIUM at a Chromium or Chrome executable, then run the tests again.'
  );
}

/**
 * Finds the browser; where there is none and this is root on a machine with apt-get, installs
 * Debian's `chromium` (said on stderr first: it takes a minute). Otherwise throws with the command to run.
 */
export function provisionBrowser(opts: { env?: NodeJS.ProcessEnv; known?: readonly string[]; log?: (line: string) => void } = {}): string {
  const env = opts.env ?? process.env;
  const known = opts.known ?? BROWSER_PATHS;
  const log = opts.log ?? ((l: string) => void process.stderr.write(`${l}\n`));
  const found = findBrowser(env, known);
  if (found) return found;
  const root = process.getuid?.() === 0;
  const apt = onPath('apt-get', env);
  if (!root || !apt) throw new Error(missingBrowserMessage(!apt ? 'this machine has none (and no apt-get to install one)' : 'this machine has none (installing it needs root)'));
  log("The browser tests need Chromium: installing Debian's chromium (apt-get install -y chromium)…");
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', 'chromium']]) {
    const r = spawnSync(apt, args, { env: aptEnv, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 15 * 60_000 });
    if (r.status !== 0) throw new Error(missingBrowserMessage(`\`apt-get ${args.join(' ')}\` failed (${(r.stderr ?? '').trim().split('\n').pop() ?? `exit ${r.status}`})`));
  }
  const installed = findBrowser(env, known);
  if (!installed) throw new Error(missingBrowserMessage('apt-get installed chromium, yet no chromium is on PATH'));
  log(`Installed ${installed}.`);
  return installed;
}
