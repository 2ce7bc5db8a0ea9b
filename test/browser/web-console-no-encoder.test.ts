/**
 * The console's image form for a model whose export has no vae_encoder (the tiny SDXL-Turbo export,
 * read at start like any model folder), in a real Chromium: no strength to choose, the limits line
 * says why, and an image attached to /imagine anyway is refused on its card in plain words naming the
 * missing vae_encoder, with nothing queued. A whole hearth with a simulated GPU, on loopback.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SDXL_TURBO, writeTinySdxl } from '../fixtures/tiny-sdxl.js';
import { smoothPicture } from '../helpers/image-runners.js';
import { launchBrowser, type Browser } from './support/browser.js';
import { webApp, type WebApp } from './support/web-app.js';

let root: string;
let browser: Browser;
let h: WebApp;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hearth-console-no-encoder-'));
  const dir = await writeTinySdxl(join(root, 'sdxl-turbo'), { sampleSize: 8, schedulerConfig: SDXL_TURBO, vaeEncoder: false });
  h = await webApp({ config: { models: { image: { dir, limits: { minSize: 64, maxSize: 256 } } } } });
  browser = await launchBrowser(inject('chromiumPath'));
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('the console image form, for a model that cannot start from an image', () => {
  it('hides the strength, says why, and refuses an attached image on its card naming the missing vae_encoder', async () => {
    const page = await browser.open('/', h.web.url());
    await page.click('[data-mode="imagine"]');
    await page.waitForFunction(() => (document.querySelector('#image-limits')?.textContent ?? '').length > 0);
    expect(await page.textContent('#image-limits')).toContain('this model cannot start from an image (its export has no vae_encoder)');
    expect(await page.locator('#opt-strength').isVisible()).toBe(false);

    await page.setInputFiles('#file', { name: 'start.png', mimeType: 'image/png', buffer: await smoothPicture(64, 64) });
    await page.waitForSelector('#attachment img');
    await page.fill('#prompt', 'the same, as a watercolour');
    await page.click('#send');
    const card = page.locator('.card[data-kind="image"][data-state="failed"]').first();
    await card.waitFor();
    const words = await card.locator('.status').textContent();
    expect(words).toContain('cannot start from an image');
    expect(words).toContain('no vae_encoder');
    expect(h.app.store.listJobs({}).filter((j) => j.kind === 'image')).toEqual([]);
    // Chromium logs the refusal's 400 as a failed resource load; nothing else may have gone wrong on the page.
    expect(browser.errors.filter((e) => !/Failed to load resource: the server responded with a status of 400/.test(e))).toEqual([]);
  });
});
