/**
 * The web console against people who push it: limits that dropping cookies does not reset, session
 * ids that never leave their cookie, token guesses slowed per address, event streams capped per
 * session and address, and bodies that are refused without being read. A whole hearth with a
 * simulated GPU, over real HTTP.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleClient, isMessage, type EventStream } from '../browser/support/http-client.js';
import { sessionKeyOf, webApp, type WebApp } from '../browser/support/web-app.js';

const ADA = 'ada-signs-in-with-this-0123456789';

describe('console limits: one shared user unless signed in, and a cap for the whole console', () => {
  let h: WebApp;
  let base: string;

  beforeAll(async () => {
    h = await webApp({ config: { limits: { maxQueuedPerUser: 2 }, web: { maxQueued: 3, users: [{ name: 'ada', token: ADA }] } }, imageStepMs: 40 });
    base = h.web.url();
  });
  afterAll(async () => h?.close());

  async function cancelAll(): Promise<void> {
    const admin = await new ConsoleClient(base).visit();
    for (const j of h.app.commands.activeJobs({ platform: 'web', userId: 'web:test', admin: true, weight: 1, origin: null })) {
      await admin.post('/api/cancel', { jobId: j.jobId });
    }
  }

  it('holds the per-user cap across browsers: a new cookie, no cookie or a made-up one is the same user', async () => {
    try {
      const first = await new ConsoleClient(base).visit();
      for (let i = 0; i < 2; i++) expect((await first.post('/api/imagine', { prompt: `slow ${i}`, steps: 60 })).status).toBe(200);
      // No cookie at all: the console issues a new session, but the limits are the console's user's.
      const fresh = new ConsoleClient(base);
      const refused = await fresh.post('/api/imagine', { prompt: 'one more', steps: 60 });
      expect(refused.status).toBe(429);
      expect(refused.json.error).toMatchObject({ code: 'QUEUE_FULL', facts: { given: 3, allowed: 2 } });
      expect((refused.json.error as { message: string }).message).toContain('Everyone using this console without a token of their own shares this limit.');
      // A session id the client made up is not taken: a signed one is issued instead.
      const madeUp = new ConsoleClient(base);
      madeUp.cookies.set('hearth_session', 'AAAAAAAAAAAAAAAAAAAAAA');
      expect((await madeUp.post('/api/imagine', { prompt: 'mine', steps: 60 })).status).toBe(429);
      expect(madeUp.cookies.get('hearth_session')).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
      const forged = new ConsoleClient(base);
      forged.cookies.set('hearth_session', `${first.cookies.get('hearth_session')!.split('.')[0]}.${'A'.repeat(43)}`);
      await forged.visit();
      expect(forged.cookies.get('hearth_session')).not.toBe(`${first.cookies.get('hearth_session')!.split('.')[0]}.${'A'.repeat(43)}`);
      expect(h.app.store.listJobs({ states: ['queued', 'running'] }).map((j) => j.userId)).toEqual(['web:console', 'web:console']);
    } finally {
      await cancelAll();
    }
  });

  it('gives a person signed in with their own token their own limits, within the cap of the whole console', async () => {
    try {
      const anon = await new ConsoleClient(base).visit();
      for (let i = 0; i < 2; i++) expect((await anon.post('/api/imagine', { prompt: `slow ${i}`, steps: 60 })).status).toBe(200);
      const ada = await new ConsoleClient(base).visit();
      const signIn = await ada.fetch(`/?token=${ADA}`);
      expect(signIn.status).toBe(303);
      expect(ada.cookies.get('hearth_auth')).not.toContain(ADA);
      const info = (await (await ada.fetch('/api/info')).json()) as { userId: string; signedIn: string };
      expect(info).toMatchObject({ userId: 'web:ada', signedIn: 'ada' });
      expect((await ada.post('/api/imagine', { prompt: 'ada draws', steps: 60 })).status).toBe(200);
      // Three console jobs in all: the console's cap (web.maxQueued) holds, whoever asks.
      const full = await ada.post('/api/imagine', { prompt: 'ada again', steps: 60 });
      expect(full.status).toBe(429);
      expect(full.json.error).toEqual({
        code: 'QUEUE_FULL',
        message: 'The console already has 3 jobs waiting or running (the limit for everyone here together is 3). Wait for one to finish, or cancel one.',
        facts: { given: 4, allowed: 3, scope: 'console' },
      });
      // Her jobs are hers: a cancel without a job id in her browser stops her newest, not the shared user's.
      const cancelled = await ada.post('/api/cancel', {});
      expect(cancelled.status).toBe(200);
      expect(h.app.engine.getJob(cancelled.json.jobId as string)?.userId).toBe('web:ada');
      // A wrong sign-in cookie is dropped, and the browser is the console's shared user again.
      const stale = new ConsoleClient(base);
      stale.cookies.set('hearth_auth', `ada.${'B'.repeat(43)}`);
      const staleInfo = (await (await stale.fetch('/api/info')).json()) as { userId: string };
      expect(staleInfo.userId).toBe('web:console');
      expect(stale.cookies.get('hearth_auth')).toBe('');
    } finally {
      await cancelAll();
    }
  });

  it('keeps conversations per browser session while the limits are shared', async () => {
    const a = await new ConsoleClient(base).visit();
    const b = await new ConsoleClient(base).visit();
    const events = await a.events();
    try {
      const asked = await a.post('/api/ask', { prompt: 'remember the lighthouse', ref: 'm1' });
      expect((await events.job(asked.json.jobId as string)).state).toBe('done');
      expect((await b.post('/api/forget', {})).json).toEqual({ turns: 0 });
      const bEvents = await b.events();
      try {
        const hello = (await bEvents.next((m) => isMessage(m) && (m as { type: string }).type === 'hello')) as { jobs: unknown[]; userId: string };
        expect(hello).toMatchObject({ userId: 'web:console', jobs: [] });
      } finally {
        bEvents.close();
      }
      expect((await a.post('/api/forget', {})).json).toEqual({ turns: 2 });
    } finally {
      events.close();
    }
  });

  it('never shows or stores a session id: pages, event streams, the dashboard and the jobs carry derived ids only', async () => {
    const c = await new ConsoleClient(base).visit();
    const cookie = c.cookies.get('hearth_session')!;
    const id = cookie.split('.')[0]!;
    const events = await c.events();
    const dash = await c.events('/api/dashboard/events');
    const seen: string[] = [];
    try {
      const asked = await c.post('/api/ask', { prompt: 'who am I', ref: 'w1' });
      seen.push(JSON.stringify(asked.json));
      await events.job(asked.json.jobId as string);
      const drawn = await c.post('/api/imagine', { prompt: 'a quick one', steps: 2, ref: 'w2' });
      await events.job(drawn.json.jobId as string);
      await dash.next((m) => (m as { view?: { recent: Array<{ jobId: string }> } }).view?.recent.some((r) => r.jobId === drawn.json.jobId) ?? false);
      for (const path of ['/api/info', '/api/queue', '/api/status', '/', '/dashboard']) seen.push(await (await c.fetch(path)).text());
      seen.push(JSON.stringify(events.messages), JSON.stringify(dash.messages));
      const jobs = h.app.store.listJobs({});
      seen.push(JSON.stringify(jobs.map((j) => ({ ...j, result: null }))));
      const key = sessionKeyOf(h, cookie)!;
      seen.push(JSON.stringify(h.app.store.getTurns(`web:session:${key}`)));
      const all = seen.join('\n');
      expect(all).not.toContain(id);
      expect(all).toContain('web:console');
      // The stored origin names the session by its key, which cannot be turned back into a cookie.
      expect(jobs.filter((j) => JSON.stringify(j.origin).includes(key)).map((j) => j.id)).toEqual(expect.arrayContaining([asked.json.jobId, drawn.json.jobId]));
      const withKey = new ConsoleClient(base);
      withKey.cookies.set('hearth_session', key);
      expect((await withKey.fetch(`/api/jobs/${drawn.json.jobId as string}/image.png`)).status).toBe(404);
    } finally {
      events.close();
      dash.close();
    }
  });
});

/** A GET of /api/info from a given local address (127.x.y.z all reach this machine). */
function getFrom(base: string, localAddress: string, headers: Record<string, string>): Promise<{ status: number; retryAfter: string | undefined; body: string }> {
  const u = new URL('/api/info', base);
  return new Promise((resolve, reject) => {
    const req = request({ hostname: u.hostname, port: u.port, path: u.pathname, localAddress, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function statusFrom(base: string, localAddress: string, headers: Record<string, string>): Promise<number> {
  return (await getFrom(base, localAddress, headers)).status;
}

describe('console token guesses', () => {
  const token = 'the-right-console-token-0123456789';
  let h: WebApp;
  let base: string;

  beforeAll(async () => {
    h = await webApp({ config: { web: { host: '127.0.0.2', token } } });
    base = h.web.url();
  });
  afterAll(async () => h?.close());

  it('makes an address wait after a wrong token, doubling per failure, and forgets it on success', async () => {
    const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });
    const at = '127.0.0.5';
    expect(await statusFrom(base, at, bearer('guess-1'))).toBe(401);
    // Even the right token waits its turn (500 ms after one failure).
    const early = await getFrom(base, at, bearer(token));
    expect(early.status).toBe(429);
    expect(early.retryAfter).toBe('1');
    expect(early.body).toContain('Too many wrong tokens from this address');
    // Another address is not held up.
    expect(await statusFrom(base, '127.0.0.6', bearer(token))).toBe(200);
    await delay(600);
    expect(await statusFrom(base, at, bearer('guess-2'))).toBe(401);
    // The second failure doubles the wait to 1 s.
    await delay(600);
    expect(await statusFrom(base, at, bearer(token))).toBe(429);
    await delay(500);
    expect(await statusFrom(base, at, bearer(token))).toBe(200);
    // Forgotten on success: the next failure waits 500 ms again.
    expect(await statusFrom(base, at, bearer('guess-3'))).toBe(401);
    await delay(600);
    expect(await statusFrom(base, at, bearer(token))).toBe(200);
    // Requests without a token are refused but not counted as guesses.
    for (let i = 0; i < 5; i++) expect(await statusFrom(base, at, {})).toBe(401);
    expect(await statusFrom(base, at, bearer(token))).toBe(200);
  });
});

describe('console event streams', () => {
  let h: WebApp;
  let base: string;

  beforeAll(async () => {
    h = await webApp({});
    base = h.web.url();
  });
  afterAll(async () => h?.close());

  it('caps the streams one session and one address may hold, with a clear JSON refusal', async () => {
    const open: EventStream[] = [];
    try {
      const c = await new ConsoleClient(base).visit();
      for (let i = 0; i < 8; i++) {
        const s = await c.events(i % 2 ? '/api/dashboard/events' : '/api/events');
        open.push(s);
        expect(s.response.status).toBe(200);
      }
      const ninth = await c.fetch('/api/events');
      expect(ninth.status).toBe(429);
      expect(((await ninth.json()) as { error: { code: string; facts: Record<string, unknown> } }).error).toMatchObject({
        code: 'TOO_MANY_STREAMS',
        facts: { per: 'session', allowed: 8 },
      });
      // Other sessions from the same address, up to 40 streams for the address.
      while (open.length < 40) {
        const other = await new ConsoleClient(base).visit();
        const s = await other.events();
        open.push(s);
        expect(s.response.status).toBe(200);
      }
      const next = await (await new ConsoleClient(base).visit()).fetch('/api/events');
      expect(next.status).toBe(429);
      const body = (await next.json()) as { error: { code: string; message: string; facts: Record<string, unknown> } };
      expect(body.error).toMatchObject({ code: 'TOO_MANY_STREAMS', facts: { per: 'address', allowed: 40 } });
      expect(body.error.message).toMatch(/^This address already has 40 console tabs open/);
      // A closed stream frees its slot.
      open.pop()!.close();
      await delay(100);
      const again = await new ConsoleClient(base).visit();
      const s = await again.events();
      open.push(s);
      expect(s.response.status).toBe(200);
    } finally {
      for (const s of open) s.close();
    }
  });
});

/**
 * Sends a request head, then body bytes as fast as the server takes them, until the server closes
 * the connection or `limit` bytes went out. Returns what was sent and the server's answer.
 */
function push(base: string, head: string, limit: number): Promise<{ sent: number; answer: string }> {
  const u = new URL(base);
  return new Promise((resolve) => {
    const socket = connect({ host: u.hostname, port: Number(u.port) });
    let sent = 0;
    let answer = '';
    let ended = false;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const finish = (): void => {
      if (ended) return;
      ended = true;
      socket.destroy();
      resolve({ sent, answer });
    };
    const pump = (): void => {
      while (!ended && sent < limit) {
        sent += chunk.byteLength;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
      if (sent >= limit) finish();
    };
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('close', finish);
    socket.on('error', finish);
    socket.on('connect', () => {
      socket.write(head.replace(/\n/g, '\r\n'));
      pump();
    });
  });
}

describe('console request bodies', () => {
  let h: WebApp;
  let base: string;
  const MB = 1024 * 1024;

  beforeAll(async () => {
    h = await webApp({ config: { files: { maxBytes: 50_000 } } });
    base = h.web.url();
  });
  afterAll(async () => h?.close());

  it('refuses and closes instead of reading a refused or unwanted body to its end', async () => {
    const host = new URL(base).host;
    const cases = [
      // Refused by the gate (another site), with 300 MB declared.
      { head: `POST /api/ask HTTP/1.1\nHost: ${host}\nOrigin: http://evil.example\nContent-Type: application/json\nContent-Length: ${300 * MB}\n\n`, status: 403 },
      // An upload over files.maxBytes that declares no length: refused once the cap is passed.
      { head: `POST /api/uploads HTTP/1.1\nHost: ${host}\nContent-Type: image/png\nTransfer-Encoding: chunked\n\n${(300 * MB).toString(16)}\n`, status: 413 },
      // A declared length over the cap: refused before any byte is read.
      { head: `POST /api/uploads HTTP/1.1\nHost: ${host}\nContent-Type: image/png\nContent-Length: ${300 * MB}\n\n`, status: 413 },
      // A route that takes no body.
      { head: `GET /api/nowhere HTTP/1.1\nHost: ${host}\nContent-Length: ${300 * MB}\n\n`, status: 404 },
      // A command in the wrong format: its body is never read.
      { head: `POST /api/ask HTTP/1.1\nHost: ${host}\nContent-Type: text/plain\nContent-Length: ${300 * MB}\n\n`, status: 400 },
    ];
    for (const c of cases) {
      const { sent, answer } = await push(base, c.head, 300 * MB);
      expect(answer.split('\r\n')[0], c.head).toBe(`HTTP/1.1 ${c.status} ${answer.split('\r\n')[0]!.split(' ').slice(2).join(' ')}`);
      expect(answer.toLowerCase()).toContain('connection: close');
      // What the kernel's socket buffers hold, not hundreds of megabytes.
      expect(sent, c.head).toBeLessThan(32 * MB);
    }
    // The console is fine afterwards.
    expect((await (await new ConsoleClient(base).visit()).fetch('/api/info')).status).toBe(200);
  });
});
