/**
 * The console and the dashboard in a real Chromium (Debian's `chromium`, driven by playwright-core)
 * against a whole hearth with a simulated GPU. Everything stays on loopback: any other request is
 * aborted. The tests write nothing outside temporary folders: the screenshots in docs/ are made by
 * `npm run docs:screenshots` (scripts/docs-screenshots.ts).
 */
import type { BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchBrowser, type Browser } from './support/browser.js';
import { ConsoleClient } from './support/http-client.js';
import { webApp, type WebApp } from './support/web-app.js';

let browser: Browser;
let ctx: BrowserContext;
let h: WebApp;
let base: string;
let pageErrors: string[] = [];
const ADA_TOKEN = 'ada-signs-in-with-this-0123456789';

function open(path: string, baseUrl = base): Promise<Page> {
  return browser.open(path, baseUrl);
}

beforeAll(async () => {
  // Everyone at the console shares one user; a second person signs in with a token of their own.
  // Knowledge indexes two Slack channels; the console may read only #general (the index is seeded by the sources test).
  const knowledge = { slackChannels: ['CGEN', 'CPRIV'], console: { slackChannels: ['CGEN'] } };
  h = await webApp({ config: { web: { users: [{ name: 'ada', token: ADA_TOKEN }] }, knowledge }, chatStepMs: 60, imageStepMs: 200 });
  base = h.web.url();
  // Found, or installed, by the globalSetup (test/setup/browser.ts).
  browser = await launchBrowser(inject('chromiumPath'));
  ctx = browser.ctx;
  pageErrors = browser.errors;
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
});


describe('web console in Chromium', () => {
  // One tab stays open through the console tests: closing a browser's last tab ends its session
  // (and the session cookie with it), as it should.
  let page: Page;

  it('streams a chat answer into the page', async () => {
    page = await open('/');
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { seen: string[] }).seen = seen;
      new MutationObserver(() => {
        const t = document.querySelector('.card[data-kind="chat"] .text');
        if (t?.textContent && seen[seen.length - 1] !== t.textContent) seen.push(t.textContent);
      }).observe(document.getElementById('log')!, { subtree: true, childList: true, characterData: true });
    });
    await page.fill('#prompt', 'tell me how the old hearth kept the whole house warm');
    await page.press('#prompt', 'Enter');
    await page.waitForSelector('.card[data-kind="chat"][data-state="done"]');
    const final = 'echo: tell me how the old hearth kept the whole house warm ';
    expect(await page.textContent('.card[data-kind="chat"] .text')).toBe(final);
    const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
    // The answer grew word by word in the page, each state a prefix of the next.
    expect(seen.length).toBeGreaterThanOrEqual(5);
    for (const s of seen) expect(final.startsWith(s)).toBe(true);
    expect(await page.textContent('.card[data-kind="chat"] .prompt')).toBe('tell me how the old hearth kept the whole house warm');
    // The conversation of this browser session comes back with a reload.
    await page.reload();
    await page.waitForSelector('.card[data-kind="chat"][data-state="done"]');
    expect(await page.textContent('.card[data-kind="chat"] .text')).toBe(final);
    expect(pageErrors).toEqual([]);
  });

  it('describes an uploaded image, and a chat message with an image lets the chat see it', async () => {
    page ??= await open('/');
    const photo = { name: 'photo.png', mimeType: 'image/png', buffer: await sharp({ create: { width: 60, height: 40, channels: 3, background: '#4a7' } }).png().toBuffer() };
    await page.click('[data-mode="caption"]');
    await page.setInputFiles('#file', photo);
    await page.waitForSelector('#attachment img');
    await page.click('#send');
    await page.waitForSelector('.card[data-kind="caption"][data-state="done"]');
    expect(await page.textContent('.card[data-kind="caption"] .text')).toBe('a simulated caption');
    expect(await page.$eval('.card[data-kind="caption"] img.thumb', (img) => (img as HTMLImageElement).naturalWidth)).toBe(60);

    await page.click('[data-mode="ask"]');
    await page.setInputFiles('#file', photo);
    await page.fill('#prompt', 'what is on this picture');
    await page.press('#prompt', 'Enter');
    const answered = await page.waitForFunction(() => {
      const cards = document.querySelectorAll('.card[data-kind="chat"]');
      const last = cards[cards.length - 1];
      return last?.getAttribute('data-state') === 'done' && last.querySelector('.text')?.textContent?.includes('echo:') ? last.querySelector('.text')!.textContent : null;
    });
    // The simulated chat echoes the new turn it was given: the image's description reached it.
    const answer = await answered.jsonValue();
    expect(answer).toContain('A description of it: a simulated caption');
    const card = page.locator('.card[data-kind="chat"]').last();
    const ref = await card.getAttribute('data-ref');
    expect(await card.locator('.note').textContent()).toBe('The image, as the captioner sees it: a simulated caption');
    expect(await card.locator('.prompt').textContent()).toBe('what is on this picture');

    // After a reload the card is still one chat message: the question, the description, the answer.
    await page.reload();
    await page.waitForSelector('#conn[data-state="live"]');
    const reloaded = page.locator(`.card[data-ref="${ref}"]`);
    await reloaded.locator('.text').getByText('echo:').waitFor();
    expect(await reloaded.getAttribute('data-kind')).toBe('chat');
    expect(await reloaded.getAttribute('data-state')).toBe('done');
    expect(await reloaded.locator('.prompt').textContent()).toBe('what is on this picture');
    expect(await reloaded.locator('.note').textContent()).toBe('The image, as the captioner sees it: a simulated caption');
    expect(await reloaded.locator('.text').textContent()).toBe(answer);
    expect(pageErrors).toEqual([]);
  });

  it('shows an image job step by step with previews, and ends with an image that loads', async () => {
    page ??= await open('/');
    await page.click('[data-mode="imagine"]');
    await page.fill('#opt-steps', '8');
    await page.fill('#opt-seed', '31');
    await page.fill('#prompt', 'a lighthouse on a cliff at dusk, warm light in the windows');
    await page.click('#send');
    const card = '.card[data-kind="image"]';
    await page.waitForFunction((sel) => {
      const p = document.querySelector<HTMLProgressElement>(`${sel} progress`);
      return !!p && p.max === 8 && p.value >= 1 && p.value < 8;
    }, card);
    expect(await page.textContent(`${card} .status`)).toMatch(/^Drawing — step [1-7] of 8$/);
    await page.waitForFunction((sel) => {
      const img = document.querySelector<HTMLImageElement>(`${sel} img.preview`);
      return !!img && !img.hidden && img.complete && img.naturalWidth > 0;
    }, card);
    await page.waitForFunction((sel) => {
      const img = document.querySelector<HTMLImageElement>(`${sel} img.result`);
      return !!img && !img.hidden && img.complete && img.naturalWidth === 256 && img.naturalHeight === 256;
    }, card);
    expect(await page.isHidden(`${card} progress`)).toBe(true);
    expect(await page.textContent(`${card} .status`)).toBe('seed 31');
    expect(pageErrors).toEqual([]);
  });

  it("lists an answer's sources as links to the messages, as text and never as markup", async () => {
    page ??= await open('/');
    const index = h.app.knowledge!.index;
    const general = { platform: 'slack', workspace: 'T0001', channel: 'CGEN' } as const;
    const finance = { ...general, channel: 'CPRIV' };
    index.updateChannel(general, { name: 'general' });
    index.updateChannel(finance, { name: 'finance', private: true });
    const at = Date.UTC(2026, 0, 5, 12);
    const permalink = 'https://example.slack.com/archives/CGEN/p1767614400000100';
    index.upsert([
      { ...general, messageId: '1767614400.000100', author: 'U1', authorName: '<img src=x onerror="window.pwned=1">Ada', at, text: 'the zanzibar gate code is 2468', permalink },
      { ...general, messageId: '1767614400.000200', author: 'U2', authorName: 'Sam', at, text: 'the zanzibar gate opens at dawn', permalink: 'javascript:window.pwned=2' },
      { ...finance, messageId: '1767614400.000300', author: 'U3', authorName: 'Bob', at, text: 'the zanzibar gate master code is 1357', permalink: 'https://example.slack.com/archives/CPRIV/p1767614400000300' },
    ]);
    await page.click('[data-mode="ask"]');
    await page.fill('#prompt', 'what is the zanzibar gate code?');
    await page.press('#prompt', 'Enter');
    const card = page.locator('.card[data-kind="chat"][data-state="done"]', { hasText: 'zanzibar' }).last();
    await card.locator('.sources:not([hidden])').waitFor();
    const links = await card.locator('.sources a').evaluateAll((as) =>
      as.map((a) => ({ text: a.textContent, href: a.getAttribute('href'), rel: a.getAttribute('rel'), target: a.getAttribute('target') })),
    );
    expect(links).toEqual([{ text: '1. <img src=x onerror="window.pwned=1">Ada, 2026-01-05', href: permalink, rel: 'noopener noreferrer', target: '_blank' }]);
    // A link that is not http(s) is shown as its label alone; nothing a message's author wrote became markup.
    expect(await card.locator('.sources').textContent()).toBe('Sources: 1. <img src=x onerror="window.pwned=1">Ada, 2026-01-05 · 2. Sam, 2026-01-05');
    expect(await card.locator('.sources img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    // The channel the console is not given is not given to the model either.
    const job = h.app.engine.getJob((await card.getAttribute('data-job-id')) ?? '');
    const given = JSON.stringify(job?.payload ?? null);
    expect(given).toContain('2468');
    expect(given).not.toContain('1357');
    expect(pageErrors).toEqual([]);
  });

  it("shows two users' jobs in the dashboard queue, and a cancel there ends one", async () => {
    const other = await new ConsoleClient(base, { authorization: `Bearer ${ADA_TOKEN}` }).visit();
    const otherEvents = await other.events();
    const otherUser = 'web:ada';
    try {
      // The other user has used the GPU before, so the chart has two people too.
      const warm = await other.post('/api/ask', { prompt: 'good morning hearth', ref: 'o1' });
      const warmId = warm.json.jobId as string;
      await otherEvents.job(warmId);

      // Two long images each: the fair scheduler interleaves the first of each user step by step,
      // and each user's second one waits in the queue.
      const consolePage = page ?? (await open('/'));
      const mine: string[] = [];
      for (const ref of ['long1', 'long2']) {
        const r = await consolePage.evaluate(async (ref) => {
          const res = await fetch('/api/imagine', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: `a long ${ref}`, steps: 40, ref }) });
          return (await res.json()) as { jobId: string };
        }, ref);
        mine.push(r.jobId);
      }
      const theirs: string[] = [];
      for (const ref of ['o2', 'o3']) {
        const r = await other.post('/api/imagine', { prompt: `harbour at night ${ref}`, steps: 40, ref });
        expect(r.status).toBe(200);
        theirs.push(r.json.jobId as string);
      }
      const waiting = theirs[1]!;

      // Earlier hours of the day: GPU time charged to these jobs (the store's own ledger) 3 and 7
      // hours ago for the other user, 5 hours ago for this one, so the chart spans several hours.
      const HOUR = 3_600_000;
      const now = Date.now();
      const me = await consolePage.evaluate(async () => ((await (await fetch('/api/info')).json()) as { userId: string }).userId);
      h.app.store.addUsage(otherUser, warmId, 4.5, now - 3 * HOUR);
      h.app.store.addUsage(otherUser, warmId, 2, now - 7 * HOUR);
      h.app.store.addUsage(me, mine[0]!, 6, now - 5 * HOUR);
      const hourOf = (t: number): number => Math.floor(t / HOUR) * HOUR;

      const dash = await open('/dashboard');
      await dash.waitForSelector(`#queue .user-queue[data-user="${otherUser}"] tr[data-job-id="${waiting}"]`);
      await dash.waitForSelector(`#queue .user-queue tr[data-job-id="${mine[1]}"]`);
      expect(await dash.locator('#queue .user-queue').count()).toBe(2);
      expect(await dash.textContent('#queue')).toContain('(you)');
      await dash.waitForFunction(() => document.querySelectorAll('#gpu .running progress').length === 2);
      expect(await dash.textContent('#vram')).toContain('of 12.0 GB in use');
      // GPU telemetry from nvidia-smi: a reading per GPU, or one line saying there is none.
      await dash.waitForSelector('#telemetry .gpu-reading, #telemetry .no-telemetry');
      expect(await dash.textContent('#telemetry')).toMatch(/^(No GPU telemetry: nvidia-smi .+\.|GPU 0.*)$/);
      // GPU time per user per hour: the earlier hours, and both users in the current one.
      const bar = (user: string, hour: number): string => `#usage svg rect.bucket[data-user="${user}"][data-hour="${hourOf(hour)}"]`;
      expect(Number(await dash.getAttribute(bar(otherUser, now - 3 * HOUR), 'data-seconds'))).toBeCloseTo(4.5, 6);
      expect(Number(await dash.getAttribute(bar(otherUser, now - 7 * HOUR), 'data-seconds'))).toBeCloseTo(2, 6);
      expect(Number(await dash.getAttribute(bar(me, now - 5 * HOUR), 'data-seconds'))).toBeCloseTo(6, 6);
      await dash.waitForSelector(bar(me, Date.now()));
      await dash.waitForSelector(bar(otherUser, Date.now()));
      expect(await dash.locator(`#usage svg rect.bucket[data-hour="${hourOf(now - 4 * HOUR)}"]`).count()).toBe(0);
      // Each user's totals beside their colour: the 24 hours include the earlier hours.
      expect(await dash.textContent(`#usage tr[data-user="${me}"]`)).toContain('(you)');
      expect(await dash.locator('#usage tbody tr').count()).toBe(2);
      // 6.5 s charged earlier, plus what the running jobs used so far.
      const day = (await dash.textContent(`#usage tr[data-user="${otherUser}"] td.day`)) ?? '';
      expect(day).toMatch(/^\d+\.\d s$/);
      expect(parseFloat(day)).toBeGreaterThanOrEqual(6.5);
      await dash.waitForSelector(`#recent tr[data-job-id="${warmId}"][data-state="done"]`);

      await dash.click(`#queue tr[data-job-id="${waiting}"] button.cancel`);
      const ended = await otherEvents.job(waiting);
      expect(ended.state).toBe('cancelled');
      expect(ended.status).toBe('Cancelled from the dashboard.');
      await dash.waitForSelector(`#recent tr[data-job-id="${waiting}"][data-state="cancelled"]`);
      expect(await dash.locator(`#queue tr[data-job-id="${waiting}"]`).count()).toBe(0);
      expect(h.app.engine.getJob(waiting)?.state).toBe('cancelled');
      for (const id of [...mine, theirs[0]!]) expect(h.app.engine.getJob(id)?.state).toMatch(/^(queued|running)$/);

      for (const id of [...mine, theirs[0]!]) await other.post('/api/cancel', { jobId: id });
      await dash.close();
      expect(pageErrors).toEqual([]);
    } finally {
      otherEvents.close();
    }
  });
});

describe('web console beyond loopback', () => {
  const token = 'console-token-for-the-browser-test-0123456789';
  let guarded: WebApp;

  beforeAll(async () => {
    guarded = await webApp({ config: { web: { host: '127.0.0.2', token } }, chatStepMs: 5 });
  });
  afterAll(async () => guarded?.close());

  it('refuses a wrong token, and a right one opens the console with its live channel', async () => {
    const url = guarded.web.url();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.2:\d+\/$/);
    const page = await ctx.newPage();
    const wrong = await page.goto(`${url}?token=not-the-token`);
    expect(wrong?.status()).toBe(401);
    expect(await page.textContent('body')).toContain('needs its access token');
    const none = await page.goto(url);
    expect(none?.status()).toBe(401);
    const events = await page.evaluate(async () => (await fetch('/api/events')).status);
    expect(events).toBe(401);

    // A wrong token makes this address wait (500 ms after one failure) before its next token is looked at.
    await new Promise((resolve) => setTimeout(resolve, 600));
    const right = await page.goto(`${url}?token=${token}`);
    expect(right?.status()).toBe(200);
    expect(page.url()).toBe(url);
    await page.waitForSelector('#conn[data-state="live"]');
    await page.fill('#prompt', 'are you there');
    await page.press('#prompt', 'Enter');
    await page.waitForSelector('.card[data-kind="chat"][data-state="done"]');
    expect(await page.textContent('.card[data-kind="chat"] .text')).toBe('echo: are you there ');
    await page.close();
  });
});
