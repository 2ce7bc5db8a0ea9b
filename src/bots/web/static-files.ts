import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/**
 * The folder of the console's pages. The build compiles only TypeScript into dist/, so from
 * dist/bots/web the pages are found back in the source tree; from src/bots/web (tests, tsx) they
 * sit next to this file.
 */
export function publicDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'public'), resolve(here, '../../../src/bots/web/public')];
  const found = candidates.find((d) => existsSync(join(d, 'index.html')));
  if (!found) throw new Error(`the web console's pages are missing: looked for index.html in ${candidates.join(' and ')}`);
  return found;
}

export interface StaticFile {
  body: Buffer;
  type: string;
}

/**
 * Reads every page, script and style sheet once, at start: requests are answered from memory, and
 * only names that exist in the folder can be asked for (no path from a URL ever reaches the disk).
 */
export async function loadStaticFiles(dir = publicDir()): Promise<Map<string, StaticFile>> {
  const files = new Map<string, StaticFile>();
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const type = TYPES[extname(entry.name)];
    if (!entry.isFile() || !type) continue;
    files.set(entry.name, { body: await readFile(join(dir, entry.name)), type });
  }
  return files;
}
