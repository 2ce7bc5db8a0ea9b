/**
 * `npm run docs:screenshots`: remakes docs/console.png and docs/dashboard.png from a whole hearth
 * with a simulated GPU in Debian's Chromium (the browser tests' own harness, test/browser/support).
 * The tests never write into docs/; this command is how the pictures change.
 *
 *   npm run docs:screenshots [-- --out DIR]
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { launchBrowser } from '../test/browser/support/browser.js';
import { ConsoleClient } from '../test/browser/support/http-client.js';
import { webApp } from '../test/browser/support/web-app.js';

const outArg = process.argv.indexOf('--out');
const OUT = outArg > 0 && process.argv[outArg + 1] ? resolve(process.argv[outArg + 1]!) : fileURLToPath(new URL('../docs/', import.meta.url));
const HOUR = 3_600_000;

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const h = await webApp({ chatStepMs: 60, imageStepMs: 200 });
  const browser = await launchBrowser();
  try {
    const base = h.web.url();
    const page = await browser.open('/', base);

    // The console: a chat, a caption, a chat about an image, and a finished image.
    await page.fill('#prompt', 'tell me how the old hearth kept the whole house warm');
    await page.press('#prompt', 'Enter');
    await page.waitForSelector('.card[data-kind="chat"][data-state="done"]');
    const photo = { name: 'photo.png', mimeType: 'image/png', buffer: await sharp({ create: { width: 60, height: 40, channels: 3, background: '#4a7' } }).png().toBuffer() };
    await page.click('[data-mode="caption"]');
    await page.setInputFiles('#file', photo);
    await page.waitForSelector('#attachment img');
    await page.click('#send');
    await page.waitForSelector('.card[data-kind="caption"][data-state="done"]');
    await page.click('[data-mode="ask"]');
    await page.setInputFiles('#file', photo);
    await page.fill('#prompt', 'what is on this picture');
    await page.press('#prompt', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('.card[data-kind="chat"][data-state="done"]').length === 2);
    await page.click('[data-mode="imagine"]');
    await page.fill('#opt-steps', '8');
    await page.fill('#opt-seed', '31');
    await page.fill('#prompt', 'a lighthouse on a cliff at dusk, warm light in the windows');
    await page.click('#send');
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('.card[data-kind="image"] img.result');
      return !!img && !img.hidden && img.complete && img.naturalWidth === 256;
    });
    await page.screenshot({ path: join(OUT, 'console.png') });

    // The dashboard: two people's long images interleaved, each one's second image queued, and GPU
    // time over several hours of the day (charged to the store's ledger in the past).
    const other = await new ConsoleClient(base).visit();
    const otherUser = `web:${other.cookies.get('hearth_session')}`;
    const warm = await other.post('/api/ask', { prompt: 'good morning hearth', ref: 'o1' });
    const warmId = warm.json.jobId as string;
    await waitUntil(() => h.app.engine.getJob(warmId)?.state === 'done');
    const jobs: string[] = [];
    for (const ref of ['long1', 'long2']) {
      jobs.push(
        await page.evaluate(async (ref) => {
          const res = await fetch('/api/imagine', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: `a long ${ref}`, steps: 40, ref }) });
          return ((await res.json()) as { jobId: string }).jobId;
        }, ref),
      );
    }
    for (const ref of ['o2', 'o3']) jobs.push((await other.post('/api/imagine', { prompt: `harbour at night ${ref}`, steps: 40, ref })).json.jobId as string);
    const me = await page.evaluate(async () => ((await (await fetch('/api/info')).json()) as { userId: string }).userId);
    const now = Date.now();
    h.app.store.addUsage(otherUser, warmId, 4.5, now - 3 * HOUR);
    h.app.store.addUsage(otherUser, warmId, 2, now - 7 * HOUR);
    h.app.store.addUsage(me, jobs[0]!, 6, now - 5 * HOUR);
    const dash = await browser.open('/dashboard', base);
    await dash.waitForFunction(() => document.querySelectorAll('#gpu .running progress').length === 2);
    await dash.waitForSelector(`#queue tr[data-job-id="${jobs[3]}"]`);
    await dash.waitForSelector(`#recent tr[data-job-id="${warmId}"][data-state="done"]`);
    await dash.screenshot({ path: join(OUT, 'dashboard.png'), fullPage: true });
    for (const id of jobs) await other.post('/api/cancel', { jobId: id });
    if (browser.errors.length > 0) throw new Error(`the pages reported errors:\n${browser.errors.join('\n')}`);
    console.log(`wrote ${join(OUT, 'console.png')} and ${join(OUT, 'dashboard.png')}`);
  } finally {
    await browser.close();
    await h.close();
  }
}

async function waitUntil(fn: () => boolean, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
