#!/usr/bin/env node
// The compiled CLI lives in dist/ (built by `npm install` through the `prepare` script). In a clone
// whose dist/ is missing or older than src/ (a fresh checkout, a `git pull`), it is compiled first,
// saying so, rather than after a silent half minute.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const main = join(root, 'dist', 'cli', 'main.js');
const src = join(root, 'src');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

/** The newest modification time of the .ts files under dir. */
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

const built = existsSync(main);
const stale = !built || (existsSync(src) && newest(src) > statSync(main).mtimeMs);
if (stale && existsSync(tsc)) {
  const t0 = Date.now();
  process.stderr.write(`hearth: ${built ? 'the sources changed since the last build; recompiling' : 'first run in this folder: compiling'} the TypeScript into dist/ (about 30 s)…\n`);
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: ['ignore', 'inherit', 'inherit'], cwd: root });
  if (r.status !== 0) {
    process.stderr.write('hearth: the build failed (above); run `npm run build` in the hearth folder to see it again.\n');
    process.exit(70);
  }
  process.stderr.write(`hearth: compiled in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
} else if (!built) {
  process.stderr.write('hearth is not built yet: run `npm install` (or `npm run build`) in the hearth folder first.\n');
  process.exit(70);
}
await import(pathToFileURL(main).href);
