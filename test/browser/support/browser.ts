/**
 * Debian's Chromium driven by playwright-core, kept on loopback (any other request is aborted), for
 * the browser tests and for `npm run docs:screenshots`.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const LOOPBACK = new Set(['127.0.0.1', '127.0.0.2', 'localhost', '[::1]']);

export interface Browser {
  ctx: BrowserContext;
  /** Page errors and console errors of every page opened with {@link Browser.open}. */
  errors: string[];
  /** Opens a page and waits for its live channel. */
  open(path: string, baseUrl: string): Promise<Page>;
  close(): Promise<void>;
}

export async function launchBrowser(executablePath: string = CHROMIUM): Promise<Browser> {
  if (!existsSync(executablePath)) {
    throw new Error(`the browser tests need Chromium at ${executablePath}: apt-get update && apt-get install -y chromium`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'hearth-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath,
    args: ['--disable-gpu', '--disable-quic'],
    viewport: { width: 1280, height: 860 },
  });
  await ctx.route((url) => !LOOPBACK.has(url.hostname), (route) => route.abort());
  for (const p of ctx.pages()) await p.close();
  const errors: string[] = [];
  return {
    ctx,
    errors,
    async open(path, baseUrl) {
      const page = await ctx.newPage();
      page.on('pageerror', (e) => errors.push(`${path}: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(`${path}: ${m.text()}`);
      });
      await page.goto(new URL(path, baseUrl).href);
      await page.waitForSelector('#conn[data-state="live"]');
      return page;
    },
    async close() {
      try {
        await ctx.close();
      } finally {
        rmSync(profile, { recursive: true, force: true });
      }
    },
  };
}
