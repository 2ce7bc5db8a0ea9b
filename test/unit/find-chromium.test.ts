/** Finding the browser for the browser tests: HEARTH_CHROMIUM, PATH, known places, and the exact command when there is none. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { INSTALL_COMMAND, findBrowser, provisionBrowser } from '../setup/find-chromium.js';

const dir = mkdtempSync(join(tmpdir(), 'hearth-browser-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function program(name: string): string {
  const path = join(dir, name);
  writeFileSync(path, '#!/bin/sh\nexit 0\n');
  chmodSync(path, 0o755);
  return path;
}

describe('finding Chromium or Chrome', () => {
  it('takes HEARTH_CHROMIUM first, then the PATH in order, then known places', () => {
    const chrome = program('google-chrome');
    expect(findBrowser({ PATH: `/nonexistent:${dir}` }, [])).toBe(chrome);
    const chromium = program('chromium');
    expect(findBrowser({ PATH: dir }, [])).toBe(chromium);
    expect(findBrowser({ PATH: dir, HEARTH_CHROMIUM: chrome }, [])).toBe(chrome);
    expect(findBrowser({ PATH: '' }, ['/nonexistent/chrome', chrome])).toBe(chrome);
    expect(findBrowser({ PATH: '' }, [])).toBeUndefined();
  });

  it('refuses a HEARTH_CHROMIUM that is not an executable', () => {
    const plain = join(dir, 'not-a-program');
    writeFileSync(plain, 'text');
    expect(() => findBrowser({ HEARTH_CHROMIUM: plain }, [])).toThrow(/HEARTH_CHROMIUM is .*not-a-program, which is not an executable file/);
  });

  it('stops with the exact command to run when it cannot install one', () => {
    const lines: string[] = [];
    const empty = mkdtempSync(join(dir, 'empty-'));
    expect(() => provisionBrowser({ env: { PATH: empty }, known: [], log: (l) => lines.push(l) })).toThrow(
      new Error(
        `The browser tests need Chromium or Chrome, and this machine has none (and no apt-get to install one).\nInstall it with:\n    ${INSTALL_COMMAND}\n` +
          'or point HEARTH_CHROMIUM at a Chromium or Chrome executable, then run the tests again.',
      ),
    );
    expect(lines).toEqual([]);
    expect(INSTALL_COMMAND).toBe('sudo apt-get update && sudo apt-get install -y chromium');
  });

  it('uses a browser that is there without installing anything', () => {
    const lines: string[] = [];
    expect(provisionBrowser({ env: { PATH: dir }, known: [], log: (l) => lines.push(l) })).toBe(join(dir, 'chromium'));
    expect(lines).toEqual([]);
  });
});
