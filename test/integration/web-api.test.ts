/**
 * The web console's HTTP API and event streams against a whole hearth with a simulated GPU: the same
 * commands and error codes as the chat platforms, streaming, uploads under the cap, the dashboard's
 * cancel, a restart, and the gate (token, Host, other origins).
 */
import { request } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView } from '../../src/bots/web/job-tracker.js';
import { ConsoleClient, isMessage } from '../browser/support/http-client.js';
import { sessionKeyOf, webApp, type WebApp } from '../browser/support/web-app.js';

const png = async (w = 32, h = 24): Promise<Buffer> => sharp({ create: { width: w, height: h, channels: 3, background: '#806040' } }).png().toBuffer();

async function upload(c: ConsoleClient, bytes: Uint8Array, type = 'image/png'): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await c.fetch('/api/uploads', { method: 'POST', headers: { 'content-type': type }, body: Buffer.from(bytes) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

function statusWithHost(base: string, host: string, cookie: string): Promise<number> {
  const u = new URL('/api/info', base);
  return new Promise((resolve, reject) => {
    const req = request({ hostname: u.hostname, port: u.port, path: u.pathname, headers: { host, cookie } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('web console API (simulated GPU)', () => {
  let h: WebApp;
  let base: string;

  beforeAll(async () => {
    h = await webApp({ config: { files: { maxBytes: 50_000 }, limits: { maxQueuedPerUser: 3 } }, chatStepMs: 5, imageStepMs: 25 });
    base = h.web.url();
  });
  afterAll(async () => h?.close());

  it('says where it listens, serves its pages with a strict policy and no CORS grant', async () => {
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(base).not.toMatch(/:0\/$/);
    const c = new ConsoleClient(base);
    for (const path of ['/', '/dashboard', '/static/console.js', '/static/style.css']) {
      const res = await c.fetch(path, { headers: { origin: 'http://evil.example' } });
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    }
    // A session id the server issued and signed: ID.HMAC.
    expect(c.cookies.get('hearth_session')).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    const pre = await c.fetch('/api/ask', { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    expect((await c.fetch('/static/../package.json')).status).toBe(404);
  });

  it('streams a chat answer token by token into the session, keeps the conversation, and /forget clears it', async () => {
    const c = await new ConsoleClient(base).visit();
    const events = await c.events();
    try {
      expect(events.response.headers.get('content-type')).toContain('text/event-stream');
      const asked = await c.post('/api/ask', { prompt: 'how warm is the hearth', ref: 'chat1' });
      expect(asked.status).toBe(200);
      const jobId = asked.json.jobId as string;
      const done = await events.job(jobId);
      expect(done.state).toBe('done');
      expect(done.text).toBe('echo: how warm is the hearth ');
      const tokens = events.messages.filter((m) => isMessage(m) && m.type === 'token' && m.jobId === jobId).map((m) => (m as { text: string }).text);
      expect(tokens.length).toBeGreaterThanOrEqual(5);
      expect(tokens.join('')).toBe(done.text);
      expect(events.messages.every((m) => !isMessage(m) || m.type !== 'update' || m.job.ref === 'chat1' || m.job.jobId !== jobId)).toBe(true);

      const forgot = await c.post('/api/forget', {});
      expect(forgot).toEqual({ status: 200, json: { turns: 2 } });
      expect((await c.post('/api/forget', {})).json).toEqual({ turns: 0 });
    } finally {
      events.close();
    }
  });

  it('draws an image with step progress and previews, then serves the PNG to its session only', async () => {
    const c = await new ConsoleClient(base).visit();
    const events = await c.events();
    try {
      const r = await c.post('/api/imagine', { prompt: 'a lighthouse at dusk', width: 256, height: 320, steps: 4, seed: 7, ref: 'img1' });
      expect(r.status).toBe(200);
      const jobId = r.json.jobId as string;
      const done = await events.job(jobId);
      expect(done).toMatchObject({ state: 'done', seed: 7, step: 4, of: 4, image: { width: 256, height: 320 } });
      const updates = events.messages.filter((m): m is { type: 'update'; job: JobView } => isMessage(m) && m.type === 'update' && m.job.jobId === jobId);
      expect(updates.map((u) => u.job.step).filter((s) => s !== undefined && s > 0)).toEqual(expect.arrayContaining([1, 2, 3, 4]));
      expect(updates.some((u) => u.job.previewUrl?.includes(`/api/jobs/${jobId}/preview.png`))).toBe(true);

      const image = await c.fetch(done.image!.url);
      expect(image.status).toBe(200);
      expect(image.headers.get('content-type')).toBe('image/png');
      const meta = await sharp(Buffer.from(await image.arrayBuffer())).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', 256, 320]);

      const other = await new ConsoleClient(base).visit();
      expect((await other.fetch(done.image!.url)).status).toBe(404);
      expect((await other.post('/api/reroll', { jobId })).json).toMatchObject({ error: { code: 'NOT_FOUND' } });
      const reroll = await c.post('/api/reroll', { jobId, ref: 'img2' });
      expect(reroll.status).toBe(200);
      expect((await events.job(reroll.json.jobId as string)).seed).not.toBe(undefined);
    } finally {
      events.close();
    }
  });

  it('refuses bad options with the same codes, facts and words as the other platforms', async () => {
    const c = await new ConsoleClient(base).visit();
    const steps = await c.post('/api/imagine', { prompt: 'x', steps: 999 });
    expect(steps.status).toBe(400);
    expect(steps.json.error).toEqual({
      code: 'INVALID_INPUT',
      message: 'Steps must be a whole number from 1 to 60; got 999.',
      facts: { option: 'steps', given: 999, allowed: '1–60' },
    });
    const width = await c.post('/api/imagine', { prompt: 'x', width: 'wide' });
    expect(width.json.error).toMatchObject({ code: 'INVALID_INPUT', facts: { option: 'width', given: 'wide' } });
    const sched = await c.post('/api/imagine', { prompt: 'x', scheduler: 'magic' });
    expect(sched.json.error).toMatchObject({ code: 'INVALID_INPUT', facts: { option: 'scheduler', given: 'magic' } });
    const long = await c.post('/api/ask', { prompt: 'a'.repeat(6001) });
    expect(long.json.error).toMatchObject({ code: 'PROMPT_TOO_LONG', facts: { given: 6001, allowed: 6000 } });
    const empty = await c.post('/api/ask', { prompt: '   ' });
    expect(empty.json.error).toMatchObject({ code: 'INVALID_INPUT' });
    const text = await c.fetch('/api/ask', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"prompt":"hi"}' });
    expect(text.status).toBe(400);
    expect(((await text.json()) as { error: { code: string } }).error.code).toBe('INVALID_INPUT');
  });

  it('holds the per-user queue cap (QUEUE_FULL) like the other platforms', async () => {
    const c = await new ConsoleClient(base).visit();
    const codes: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await c.post('/api/imagine', { prompt: `slow ${i}`, steps: 60 });
      codes.push(r.status === 200 ? 'ok' : (r.json.error as { code: string }).code);
      if (r.status !== 200) {
        expect(r.status).toBe(429);
        expect((r.json.error as { message: string }).message).toBe(
          'You already have 3 jobs waiting or running (the limit is 3). Wait for one to finish, or cancel one with /cancel. Everyone using this console without a token of their own shares this limit.',
        );
      }
    }
    expect(codes).toEqual(['ok', 'ok', 'ok', 'QUEUE_FULL']);
    for (let i = 0; i < 3; i++) expect((await c.post('/api/cancel', {})).status).toBe(200);
    expect((await c.post('/api/cancel', {})).json.error).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('caps uploads while they arrive and refuses what is not an image', async () => {
    const c = await new ConsoleClient(base).visit();
    const big = await upload(c, new Uint8Array(50_001));
    expect(big.status).toBe(413);
    expect(big.json.error).toMatchObject({ code: 'IMAGE_TOO_LARGE', facts: { given: 50_001, allowed: 50_000 } });

    // No Content-Length: the cap holds while the bytes stream in.
    const chunks = (async function* () {
      for (let i = 0; i < 20; i++) yield new Uint8Array(10_000);
    })();
    const streamed = await c.fetch('/api/uploads', { method: 'POST', headers: { 'content-type': 'image/png' }, body: chunks as unknown as BodyInit, duplex: 'half' } as RequestInit);
    expect(streamed.status).toBe(413);
    const streamedError = ((await streamed.json()) as { error: { code: string; facts: { given: number } } }).error;
    expect(streamedError.code).toBe('IMAGE_TOO_LARGE');
    expect(streamedError.facts.given).toBeLessThan(200_000);

    const html = await upload(c, new TextEncoder().encode('<!doctype html><html></html>'));
    expect(html.json.error).toMatchObject({ code: 'IMAGE_INVALID', facts: { given: 'html' } });
    const json = await c.post('/api/uploads', {});
    expect(json.json.error).toMatchObject({ code: 'IMAGE_INVALID' });
    expect((await c.post('/api/caption', { uploadId: 'nope' })).json.error).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('captions an uploaded image, and a chat message with an image lets the chat see it', async () => {
    const c = await new ConsoleClient(base).visit();
    const events = await c.events();
    try {
      const up = await upload(c, await png());
      expect(up.status).toBe(201);
      const cap = await c.post('/api/caption', { uploadId: up.json.uploadId, detail: 'short', ref: 'cap1' });
      expect(cap.status).toBe(200);
      expect((await events.job(cap.json.jobId as string)).text).toBe('a simulated caption');
      // An upload is used once.
      expect((await c.post('/api/caption', { uploadId: up.json.uploadId })).json.error).toMatchObject({ code: 'NOT_FOUND' });

      // A chat message with an image: the answer to the POST is the chat job, queued once the image
      // was described (a caption job of the same user, in the same card).
      const up2 = await upload(c, await png(40, 40));
      const asked = await c.post('/api/ask', { prompt: 'what is in it', uploadId: up2.json.uploadId, ref: 'see1' });
      expect(asked.status).toBe(200);
      expect(asked.json.kind).toBe('chat');
      const chat = await events.job(asked.json.jobId as string);
      expect(chat).toMatchObject({ ref: 'see1', prompt: 'what is in it', state: 'done' });
      // One card: it showed the image being described, then the answer, with the description as its note.
      const cardUpdates = events.messages.filter((m): m is { type: 'update'; job: JobView } => isMessage(m) && m.type === 'update' && m.job.ref === 'see1');
      expect(cardUpdates.every((m) => m.job.kind === 'chat')).toBe(true);
      expect(cardUpdates.some((m) => m.job.state === 'queued' && m.job.status.startsWith('Looking at the image first'))).toBe(true);
      expect(chat.note).toBe('a simulated caption');
      // The simulated chat echoes the new turn it was given: the image's description reached it.
      expect(chat.text).toContain('A description of it: a simulated caption');
      expect(chat.text).toContain('what is in it');
      // The description stays in the conversation, before the question and its answer.
      const turns = h.app.store.getTurns(`web:session:${sessionKeyOf(h, c.cookies.get('hearth_session'))}`);
      expect(turns.map((t) => t.role)).toEqual(['context', 'user', 'assistant']);
      expect(turns[0]!.content).toContain('a simulated caption');

      // A reloaded page is greeted with the card as it ended.
      const again = await c.events();
      try {
        const hello = (await again.next((m) => isMessage(m) && (m as { type: string }).type === 'hello')) as { jobs: JobView[] };
        const card = hello.jobs.filter((j) => j.ref === 'see1');
        expect(card.map((j) => [j.kind, j.state, j.note])).toEqual([['chat', 'done', 'a simulated caption']]);
        expect(card[0]!.text).toBe(chat.text);
      } finally {
        again.close();
      }
    } finally {
      events.close();
    }
  });

  it("lets the console's user cancel another user's job (the dashboard) and tells its owner", async () => {
    const owner = await new ConsoleClient(base).visit();
    const admin = await new ConsoleClient(base).visit();
    const ownerEvents = await owner.events();
    const dash = await admin.events('/api/dashboard/events');
    try {
      const a = await owner.post('/api/imagine', { prompt: 'slow one', steps: 60 });
      const b = await owner.post('/api/imagine', { prompt: 'slow two', steps: 60 });
      const adminJob = await admin.post('/api/imagine', { prompt: 'mine', steps: 60 });
      type Status = { type: 'status'; view: { queue: Array<{ userId: string; jobId: string }>; running: Array<{ userId: string; jobId: string }> } };
      await dash.next((m): m is Status => {
        const v = (m as Status).view;
        if ((m as Status).type !== 'status') return false;
        const jobs = new Set([...v.queue.map((q) => q.jobId), ...v.running.map((r) => r.jobId)]);
        // Both browsers act as the console's one shared user: the dashboard shows no session.
        expect([...v.queue, ...v.running].every((j) => j.userId === 'web:console')).toBe(true);
        return [a.json.jobId, b.json.jobId, adminJob.json.jobId].every((id) => jobs.has(id as string));
      });
      const cancelled = await admin.post('/api/cancel', { jobId: b.json.jobId });
      expect(cancelled.status).toBe(200);
      const ended = await ownerEvents.job(b.json.jobId as string);
      expect(ended.state).toBe('cancelled');
      expect(ended.status).toBe('Cancelled from the dashboard.');
      expect(ended.error).toBeUndefined();
      await dash.next((m) => (m as { view?: { recent: Array<{ jobId: string; state: string }> } }).view?.recent.some((r) => r.jobId === b.json.jobId && r.state === 'cancelled') ?? false);
      for (const id of [a.json.jobId, adminJob.json.jobId]) await admin.post('/api/cancel', { jobId: id });
    } finally {
      ownerEvents.close();
      dash.close();
    }
  });

  it('refuses other sites: a foreign Host (DNS rebinding), a foreign Origin, a cross-site fetch', async () => {
    const c = await new ConsoleClient(base).visit();
    const port = new URL(base).port;
    // fetch() will not send another Host header, so this one goes out through node:http.
    expect(await statusWithHost(base, `attacker.example:${port}`, c.cookieHeader)).toBe(403);
    expect(await statusWithHost(base, `localhost:${port}`, c.cookieHeader)).toBe(200);
    const foreign = await c.fetch('/api/forget', { method: 'POST', headers: { 'content-type': 'application/json', origin: 'http://evil.example' }, body: '{}' });
    expect(foreign.status).toBe(403);
    const cross = await c.fetch('/api/info', { headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'cors' } });
    expect(cross.status).toBe(403);
  });

  it('sends the event stream uncompressed even when the client accepts gzip', async () => {
    const c = await new ConsoleClient(base, { 'accept-encoding': 'gzip, br' }).visit();
    const events = await c.events('/api/dashboard/events');
    try {
      expect(events.response.headers.get('content-encoding')).toBeNull();
      expect(events.response.headers.get('cache-control')).toContain('no-transform');
      await events.next((m) => isMessage(m) || (m as { type?: string }).type === 'status');
    } finally {
      events.close();
    }
  });
});

describe('web console with a token', () => {
  const token = 'a-long-random-console-token-0123456789';
  let h: WebApp;
  let base: string;

  beforeAll(async () => {
    h = await webApp({ config: { web: { host: '127.0.0.2', token } } });
    base = h.web.url();
  });
  afterAll(async () => h?.close());

  it('checks the token on every request and the live channel; a right ?token= sets an HttpOnly SameSite=Strict cookie', async () => {
    expect(base).toMatch(/^http:\/\/127\.0\.0\.2:\d+\/$/);
    const anon = new ConsoleClient(base);
    for (const path of ['/', '/dashboard', '/static/console.js', '/api/info', '/api/events', '/api/dashboard/events']) {
      const res = await anon.fetch(path);
      expect(res.status, path).toBe(401);
      await res.arrayBuffer();
    }
    const wrong = new ConsoleClient(base, { authorization: `Bearer ${token}x` });
    expect((await wrong.fetch('/api/info')).status).toBe(401);
    // A wrong token makes this address wait before its next one is looked at.
    const early = await anon.fetch(`/?token=${token.slice(0, -1)}`);
    expect(early.status).toBe(429);
    expect(Number(early.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await anon.fetch('/api/info', { headers: { cookie: 'hearth_auth=forged' } })).status).toBe(401);
    await delay(600);
    expect((await anon.fetch(`/?token=${token.slice(0, -1)}`)).status).toBe(401);
    await delay(1100);

    const bearer = new ConsoleClient(base, { authorization: `Bearer ${token}` });
    expect((await bearer.fetch('/api/info')).status).toBe(200);

    const browser = new ConsoleClient(base);
    const first = await browser.fetch(`/dashboard?token=${token}`);
    expect(first.status).toBe(303);
    expect(first.headers.get('location')).toBe('/dashboard');
    const auth = first.headers.getSetCookie().find((c) => c.startsWith('hearth_auth='))!;
    expect(auth).toMatch(/HttpOnly/);
    expect(auth).toMatch(/SameSite=Strict/);
    expect(auth).not.toContain(token);
    expect((await browser.fetch('/dashboard')).status).toBe(200);
    const events = await browser.events();
    try {
      expect(events.response.status).toBe(200);
      await events.next((m) => isMessage(m) && (m as { type: string }).type === 'hello');
    } finally {
      events.close();
    }
  });
});

describe('web console across a restart', () => {
  it('answers a job queued before the restart in the same browser session, from its stored origin', async () => {
    const first = await webApp({ chatStepMs: 200 });
    const c = await new ConsoleClient(first.web.url()).visit();
    const busy = await c.post('/api/ask', { prompt: 'one two three four five six', ref: 'before1' });
    const waiting = await c.post('/api/ask', { prompt: 'still here after the restart', ref: 'before2' });
    expect(waiting.status).toBe(200);
    await first.close({ keepData: true });

    const second = await webApp({ dataDir: first.dataDir, chatStepMs: 5 });
    try {
      const again = new ConsoleClient(second.web.url());
      again.cookies = c.cookies;
      const events = await again.events();
      try {
        const hello = (await events.next((m) => isMessage(m) && (m as { type: string }).type === 'hello')) as { jobs: JobView[] };
        const pending = hello.jobs.find((j) => j.jobId === waiting.json.jobId);
        const done = pending?.state === 'done' ? pending : await events.job(waiting.json.jobId as string);
        expect(done).toMatchObject({ ref: 'before2', state: 'done', text: 'echo: still here after the restart ' });
        expect(hello.jobs.some((j) => j.jobId === busy.json.jobId) || events.messages.some((m) => isMessage(m) && m.type === 'update' && m.job.jobId === busy.json.jobId)).toBe(true);
      } finally {
        events.close();
      }
    } finally {
      await second.close();
    }
  });
});

describe('web console: a question about an image across a restart', () => {
  it('answers the question once its image is described, also when that happens only after a restart', async () => {
    const first = await webApp({ chatStepMs: 200 });
    const c = await new ConsoleClient(first.web.url()).visit();
    const events = await c.events();
    // The user's own long chat runs first, so the image's description waits behind it.
    await c.post('/api/ask', { prompt: 'one two three four five six seven eight', ref: 'x1' });
    const up = await upload(c, await png());
    const pending = c.post('/api/ask', { prompt: 'what about this one', uploadId: up.json.uploadId, ref: 'x2' }).catch((e: unknown) => e);
    const queued = (await events.next((m) => isMessage(m) && m.type === 'update' && m.job.ref === 'x2' && m.job.state === 'queued')) as { job: JobView };
    expect(queued.job).toMatchObject({ kind: 'chat', prompt: 'what about this one' });
    expect(queued.job.status).toMatch(/^Looking at the image first/);
    events.close();
    await first.close({ keepData: true });
    await pending;

    const second = await webApp({ dataDir: first.dataDir, chatStepMs: 5 });
    try {
      const again = new ConsoleClient(second.web.url());
      again.cookies = c.cookies;
      const after = await again.events();
      try {
        const hello = (await after.next((m) => isMessage(m) && (m as { type: string }).type === 'hello')) as { jobs: JobView[] };
        const seen = hello.jobs.find((j) => j.ref === 'x2');
        const ended = seen?.state === 'done' ? seen : await after.card('x2');
        expect(ended).toMatchObject({ ref: 'x2', kind: 'chat', state: 'done', note: 'a simulated caption' });
        // The simulated chat echoes its input: the description made after the restart reached it.
        expect(ended.text).toContain('A description of it: a simulated caption');
        expect(ended.text).toContain('what about this one');
      } finally {
        after.close();
      }
    } finally {
      await second.close();
    }
  });
});

describe('web console with a daily GPU limit', () => {
  it('refuses a question about an image past the daily limit before any GPU time is spent describing it', async () => {
    const h = await webApp({ config: { limits: { dailyGpuSeconds: 0.001 } } });
    try {
      const c = await new ConsoleClient(h.web.url()).visit();
      const events = await c.events();
      try {
        const first = await c.post('/api/ask', { prompt: 'use up the day', ref: 'd1' });
        expect((await events.job(first.json.jobId as string)).state).toBe('done');
        const user = 'web:console';
        const spent = h.app.store.usageSince(user, 0);
        const up = await upload(c, await png());
        const asked = await c.post('/api/ask', { prompt: 'and what is this', uploadId: up.json.uploadId, ref: 'd2' });
        expect(asked.status).toBe(429);
        expect(asked.json.error).toMatchObject({ code: 'DAILY_LIMIT', message: expect.stringMatching(/^You have used your GPU time for today/) });
        // No description job ran for the refused question.
        expect(h.app.store.listJobs({ userId: user, states: ['queued', 'running', 'done'] }).filter((j) => j.kind === 'caption')).toHaveLength(0);
        expect(h.app.store.usageSince(user, 0)).toBe(spent);
      } finally {
        events.close();
      }
    } finally {
      await h.close();
    }
  });
});

describe('web console dashboard across a restart', () => {
  type Status = {
    now: number;
    recent: Array<Record<string, unknown> & { jobId: string; createdAt: number; startedAt: number; finishedAt: number; usedSeconds: number }>;
    usageBuckets: Array<{ userId: string; bucketStart: number; seconds: number }>;
  };

  it('lists the jobs that ended before the restart, newest first with outcome and timing, and their GPU time by hour', async () => {
    const first = await webApp({ chatStepMs: 5, imageStepMs: 40 });
    const c = await new ConsoleClient(first.web.url()).visit();
    const user = 'web:console';
    const events = await c.events();
    let chatId: string;
    let imageId: string;
    try {
      chatId = (await c.post('/api/ask', { prompt: 'a short question', ref: 'k1' })).json.jobId as string;
      expect((await events.job(chatId)).state).toBe('done');
      imageId = (await c.post('/api/imagine', { prompt: 'a slow one', steps: 60, ref: 'k2' })).json.jobId as string;
      await events.next((m) => isMessage(m) && m.type === 'update' && m.job.jobId === imageId && (m.job.step ?? 0) >= 2);
      expect((await c.post('/api/cancel', { jobId: imageId })).status).toBe(200);
      expect((await events.job(imageId)).state).toBe('cancelled');
    } finally {
      events.close();
    }
    await first.close({ keepData: true });

    const second = await webApp({ dataDir: first.dataDir });
    try {
      const viewer = await new ConsoleClient(second.web.url()).visit();
      const status = (await (await viewer.fetch('/api/status')).json()) as Status;
      expect(status.recent.map((r) => [r.jobId, r.kind, r.state])).toEqual([
        [imageId, 'image', 'cancelled'],
        [chatId, 'chat', 'done'],
      ]);
      for (const r of status.recent) {
        // Only what the list shows: no payload, no result bytes.
        expect(Object.keys(r).sort()).toEqual(['createdAt', 'finishedAt', 'jobId', 'kind', 'startedAt', 'state', 'usedSeconds', 'userId']);
        expect(r.userId).toBe(user);
        expect(r.createdAt).toBeLessThanOrEqual(r.startedAt);
        expect(r.startedAt).toBeLessThanOrEqual(r.finishedAt);
        expect(r.usedSeconds).toBeGreaterThan(0);
      }
      // The GPU time of both jobs, in hour buckets (two at most: the run may cross an hour).
      expect(status.usageBuckets.length).toBeGreaterThanOrEqual(1);
      expect(status.usageBuckets.length).toBeLessThanOrEqual(2);
      for (const b of status.usageBuckets) {
        expect(b.userId).toBe(user);
        expect(b.bucketStart % 3_600_000).toBe(0);
        expect(b.bucketStart).toBeGreaterThan(status.now - 2 * 3_600_000);
      }
      const charged = status.usageBuckets.reduce((sum, b) => sum + b.seconds, 0);
      expect(charged).toBeCloseTo(status.recent.reduce((sum, r) => sum + r.usedSeconds, 0), 6);

      // The dashboard's stream starts with the same list.
      const dash = await viewer.events('/api/dashboard/events');
      try {
        const hello = (await dash.next((m) => (m as { type?: string }).type === 'status')) as { view: Status };
        expect(hello.view.recent.map((r) => r.jobId)).toEqual([imageId, chatId]);
      } finally {
        dash.close();
      }
    } finally {
      await second.close();
    }
  });
});
