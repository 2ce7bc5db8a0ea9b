/**
 * The console's image form in a real Chromium: the samplers, sizes and limits of the configured model
 * where they are chosen, an image attached with a strength (image-to-image), and the Vary buttons of a
 * finished picture. A whole hearth with a simulated GPU, everything on loopback.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Json } from '../../src/engine/types.js';
import { launchBrowser, type Browser } from './support/browser.js';
import { webApp, type WebApp } from './support/web-app.js';

let browser: Browser;
let h: WebApp;
/** Every job's payload as it was queued (the store drops an init image once its job ends). */
const queued = new Map<string, Record<string, Json>>();

beforeAll(async () => {
  h = await webApp({
    config: { models: { image: { dir: '/m/sd', limits: { maxSize: 768, maxSteps: 30 }, defaults: { steps: 6, scheduler: 'dpmpp_2m_karras', strength: 0.5 } } } },
    imageStepMs: 30,
  });
  h.app.engine.on((e) => {
    const p = h.app.engine.getJob(e.jobId)?.payload;
    if (!queued.has(e.jobId) && p && typeof p === 'object' && !Array.isArray(p)) queued.set(e.jobId, p);
  });
  browser = await launchBrowser(inject('chromiumPath'));
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('the console image form in Chromium', () => {
  it("shows the model's samplers and limits, paints from an attached image at a strength, and varies the result", async () => {
    const page = await browser.open('/', h.web.url());
    await page.click('[data-mode="imagine"]');
    await page.waitForFunction(() => document.querySelectorAll('#opt-scheduler option').length > 1);
    const samplers = await page.$$eval('#opt-scheduler option', (os) => os.map((o) => [(o as HTMLOptionElement).value, o.textContent, (o as HTMLOptionElement).selected]));
    expect(samplers).toContainEqual(['dpmpp_2m_karras', 'DPM++ 2M Karras (default)', true]);
    expect(samplers).toContainEqual(['euler_a', 'Euler a', false]);
    const limits = await page.textContent('#image-limits');
    expect(limits).toContain('Sizes 256–768 px');
    expect(limits).toContain('steps 1–30 (default 6)');
    expect(limits).toContain('DPM++ 2M, DPM++ 2M Karras, DDIM, LCM');
    expect(await page.getAttribute('#opt-strength', 'max')).toBe('1');

    const source = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#c84' } }).png().toBuffer();
    await page.setInputFiles('#file', { name: 'start.png', mimeType: 'image/png', buffer: source });
    await page.waitForSelector('#attachment img');
    await page.fill('#opt-strength', '0.4');
    await page.fill('#prompt', 'the same, in winter');
    await page.click('#send');
    const first = page.locator('.card[data-kind="image"]').first();
    await first.locator('button.vary').first().waitFor();
    const firstId = (await first.getAttribute('data-job-id'))!;
    expect(queued.get(firstId)?.initImageBase64).toBe(source.toString('base64'));
    expect(queued.get(firstId)?.strength).toBe(0.4);
    expect(await first.locator('.status').textContent()).toContain('From your image · strength 0.4');

    const labels = await first.locator('button.vary').allTextContents();
    expect(labels).toEqual(['Vary (Subtle)', 'Vary (Strong)']);
    await first.locator('button.vary', { hasText: 'Vary (Strong)' }).click();
    const second = page.locator('.card[data-kind="image"]').nth(1);
    await second.locator('button.vary').first().waitFor();
    const secondId = (await second.getAttribute('data-job-id'))!;
    const png = h.app.engine.getJob(firstId)?.result?.image?.png;
    expect(png).toBeDefined();
    expect(queued.get(secondId)?.initImageBase64).toBe(Buffer.from(png!).toString('base64'));
    expect([queued.get(secondId)?.strength, queued.get(secondId)?.variationOf]).toEqual([0.7, firstId]);
    expect(await second.locator('.status').textContent()).toContain(`Variation of ${firstId.slice(0, 8)} · strength 0.7`);
    expect(browser.errors).toEqual([]);
  });
});
