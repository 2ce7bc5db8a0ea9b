/**
 * Input fuzz (issue 13), bounded and seeded, on 127.0.0.1: the web console's HTTP API and the
 * commands' inputs get random and malformed input (wrong types, huge, negative and non-finite
 * numbers, odd unicode, wrong content types, truncated and broken bodies, random bytes as images).
 *
 * - hearth never crashes and never answers 500: every answer is a 2xx, or a refusal with a JSON body
 *   `{ error: { code, message } }` whose code is one of hearth's and whose message says something;
 * - a request that differs from a valid one in a single field, when refused, names that field;
 * - nothing reached the error report (every refusal was expected), and the console still serves.
 *
 * It prints the counts. HEARTH_FUZZ_SEED and HEARTH_FUZZ_CASES change the seed and the number of cases.
 */
import { request } from 'node:http';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Invocation } from '../../src/commands/invocation.js';
import { ERROR_CODES } from '../../src/engine/errors.js';
import type { Json } from '../../src/engine/types.js';
import { ConsoleClient } from '../browser/support/http-client.js';
import { webApp, type WebApp } from '../browser/support/web-app.js';
import { seededRandom } from '../fixtures/seeded-random.js';

const SEED = Number(process.env.HEARTH_FUZZ_SEED ?? 1_913);
const CASES = Number(process.env.HEARTH_FUZZ_CASES ?? 1_500);
const rand = seededRandom(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
/** A path segment of any string (a lone surrogate cannot be percent-encoded: its replacement is). */
const segment = (s: string) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '\ufffd')).slice(0, 80);
const int = (n: number) => Math.floor(rand() * n);

/** Strings people (and attackers) type. */
const STRINGS = [
  '', ' ', 'a cat', 'x'.repeat(5000), 'y'.repeat(120_000), '\u0000', 'nul\u0000inside', '\ud800', 'lone \udfff surrogate', '\u202eevil', 'zero\u200bwidth',
  '🔥🦊'.repeat(300), 'ﷺ𒐫', '<script>alert(1)</script>', '${process.exit()}', '../../etc/passwd', '%00', '\r\n\r\nHTTP/1.1 200 OK', '-1', 'NaN', '1e999', '0x10', ' 12 ',
  '512x512', '99999x99999', 'euler', 'dpm++', '__proto__', 'constructor', 'brief', 'detailed',
];
/** Numbers JSON can carry, and some it cannot be trusted with. */
const NUMBERS = [0, 1, -1, 7, 20, 60, 61, 512, 513, 1e308, -1e308, 2 ** 53 + 1, -(2 ** 31), 0.5, 1e-320, 4294967296, Number.MAX_SAFE_INTEGER];

function randomJson(depth = 0): Json {
  const r = rand();
  if (r < 0.3) return pick(STRINGS);
  if (r < 0.55) return pick(NUMBERS);
  if (r < 0.62) return rand() < 0.5;
  if (r < 0.7) return null;
  if (depth > 2) return 'deep';
  if (r < 0.85) return Array.from({ length: int(4) }, () => randomJson(depth + 1));
  const o: Record<string, Json> = {};
  for (let i = 0; i < int(4); i++) o[pick([...FIELDS, '__proto__', 'constructor', 'x'])] = randomJson(depth + 1);
  return o;
}

const FIELDS = ['prompt', 'negativePrompt', 'steps', 'seed', 'width', 'height', 'guidance', 'scheduler', 'jobId', 'uploadId', 'question', 'detail', 'ref', 'size'];

/** Valid bodies per route, and the words a refusal of each field must use. */
const VALID: Record<string, Record<string, Json>> = {
  ask: { prompt: 'what is a hearth' },
  imagine: { prompt: 'a red fox', steps: 4, width: 256, height: 256, guidance: 5, seed: 3, scheduler: 'euler' },
  caption: { question: 'what colour is it?', detail: 'brief' },
};
const FIELD_WORDS: Record<string, RegExp> = {
  prompt: /prompt|question/i,
  negativePrompt: /negative/i,
  steps: /steps/i,
  seed: /seed/i,
  width: /width|size/i,
  height: /height|size/i,
  guidance: /guidance/i,
  scheduler: /scheduler|sampler/i,
  question: /question/i,
  detail: /detail/i,
};
const BAD: Record<string, Json[]> = {
  prompt: [123, true, ['a'], { a: 1 }, '', '   ', 'y'.repeat(30_000)],
  negativePrompt: [5, ['x'], 'z'.repeat(30_000)],
  steps: [-1, 0, 61, 1e308, 0.5, 'many', [], {}, true],
  seed: [-1, 1e308, 0.25, 'abc', [], {}],
  width: [-512, 0, 1e308, 100, 'wide', {}],
  height: [-512, 0, 1e308, 100, 'tall', []],
  guidance: [-1, 31, 1e308, 'strong', []],
  scheduler: ['nope', 5, ['euler'], {}],
  question: [5, ['q'], { q: 1 }, 'q'.repeat(30_000)],
  detail: ['extreme', 5, [], {}],
};

interface Counts {
  requests: number;
  ok: number;
  refused: number;
  byStatus: Record<string, number>;
  singleField: number;
  singleFieldRefused: number;
  dropped: number;
  commandCalls: number;
  commandRefused: number;
}

describe('input fuzz: the console API and the commands', () => {
  let h: WebApp;
  let base: string;
  let client: ConsoleClient;
  let png: Uint8Array;
  const counts: Counts = { requests: 0, ok: 0, refused: 0, byStatus: {}, singleField: 0, singleFieldRefused: 0, dropped: 0, commandCalls: 0, commandRefused: 0 };
  const bad: string[] = [];

  beforeAll(async () => {
    h = await webApp({ config: { limits: { maxQueuedPerUser: 1000 }, web: { maxQueued: 10_000 } }, chatStepMs: 1, imageStepMs: 1 });
    base = h.web.url();
    client = await new ConsoleClient(base).visit();
    png = new Uint8Array(await sharp({ create: { width: 16, height: 16, channels: 3, background: '#204080' } }).png().toBuffer());
  });

  afterAll(async () => {
    process.stdout.write(`INPUT-FUZZ FIGURES ${JSON.stringify({ seed: SEED, ...counts })}\n`);
    await h?.close();
  });

  /** Checks one answer: no 5xx, and a refusal is `{ error: { code, message } }` that says what was wrong. */
  async function judge(what: string, res: Response, field?: string): Promise<void> {
    counts.requests++;
    counts.byStatus[res.status] = (counts.byStatus[res.status] ?? 0) + 1;
    const text = await res.text();
    if (res.status >= 500) {
      bad.push(`${what}: ${res.status} ${text.slice(0, 200)}`);
      return;
    }
    if (res.status < 400) {
      counts.ok++;
      return;
    }
    counts.refused++;
    let body: { error?: { code?: unknown; message?: unknown } } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      bad.push(`${what}: ${res.status} is not JSON: ${text.slice(0, 120)}`);
      return;
    }
    const e = body.error;
    if (!e || typeof e.code !== 'string' || !(ERROR_CODES as readonly string[]).includes(e.code) || typeof e.message !== 'string' || e.message.trim().length < 8) {
      bad.push(`${what}: ${res.status} without a clear error: ${text.slice(0, 200)}`);
      return;
    }
    if (field && e.code !== 'QUEUE_FULL') {
      counts.singleFieldRefused++;
      if (!FIELD_WORDS[field]!.test(e.message)) bad.push(`${what}: the refusal does not name ${field}: ${e.message.slice(0, 200)}`);
    }
  }

  const post = (path: string, body: string | Uint8Array, type: string | undefined) =>
    client.fetch(path, { method: 'POST', body: typeof body === 'string' ? body : Buffer.from(body), headers: type === undefined ? {} : { 'content-type': type } });

  it(`answers ${CASES} random and malformed API requests without a crash or a 500, each refusal a clear error`, { timeout: 150_000 }, async () => {
    const routes = ['/api/ask', '/api/imagine', '/api/caption', '/api/cancel', '/api/forget', '/api/reroll'];
    const types = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/JSON', undefined];
    for (let i = 0; i < CASES; i++) {
      const r = rand();
      const route = pick(routes);
      if (r < 0.3) {
        // A random JSON value (often not an object), as JSON.
        const body = JSON.stringify(randomJson());
        await judge(`POST ${route} ${body.slice(0, 80)}`, await post(route, body, 'application/json'));
      } else if (r < 0.45) {
        // Broken JSON: truncated, non-finite numbers, trailing garbage, raw bytes.
        const valid = JSON.stringify(VALID[pick(Object.keys(VALID))]);
        const broken = pick([valid.slice(0, int(valid.length)), '{"steps": NaN}', '{"seed": Infinity}', '{"steps": -Infinity}', `${valid}}}`, '{"prompt": "\\ud800"}', '\u0000\u0001', '{"a":'.repeat(500), '[]', 'null', '"text"', '1e999']);
        await judge(`POST ${route} broken ${broken.slice(0, 60)}`, await post(route, broken, 'application/json'));
      } else if (r < 0.55) {
        // The wrong content type (or none) for a JSON command.
        const type = pick(types.filter((t) => t !== 'application/json'));
        await judge(`POST ${route} as ${String(type)}`, await post(route, JSON.stringify(VALID.ask), type));
      } else if (r < 0.85) {
        // A valid command with one field made wrong: the refusal must name the field.
        const name = pick(Object.keys(VALID));
        const fields = Object.keys(BAD).filter((f) => f in VALID[name]! || (name === 'imagine' && f === 'negativePrompt'));
        const field = pick(fields);
        const body = { ...VALID[name]!, [field]: pick(BAD[field]!) };
        if (name === 'caption') body.uploadId = await upload(png);
        counts.singleField++;
        await judge(`POST /api/${name} ${field}=${JSON.stringify(body[field]).slice(0, 40)}`, await post(`/api/${name}`, JSON.stringify(body), 'application/json'), field);
      } else if (r < 0.93) {
        // Uploads: random bytes, a cut PNG, nothing, the wrong type.
        const bytes = pick([randomBytes(int(2000)), png.slice(0, int(png.length)), new Uint8Array(0), png]);
        await judge('POST /api/uploads', await post('/api/uploads', bytes, pick(['image/png', 'application/octet-stream', 'text/plain', 'image/svg+xml', undefined])));
      } else {
        // Odd paths and methods, job ids and event streams.
        const path = pick([
          `/api/jobs/${segment(pick(STRINGS))}/image.png`,
          `/api/jobs/${'a'.repeat(64)}/preview.png`,
          '/api/events?x=%ff',
          '/api/nothing-here',
          `/api/${segment(pick(STRINGS))}`,
          '/api/queue',
          '/api/info',
        ]);
        const method = pick(['GET', 'PUT', 'DELETE', 'PATCH']);
        if (path.startsWith('/api/events') && method === 'GET') continue;
        await judge(`${method} ${path}`, await client.fetch(path, { method }));
      }
      if (i % 100 === 99) await client.post('/api/cancel', {});
    }
    // Bodies cut off mid-way: the console answers or drops the connection, and carries on.
    for (let i = 0; i < 20; i++) {
      await cutOff(base, pick(routes), client.cookieHeader);
      counts.dropped++;
    }
    // Event streams with odd query strings still open, and close cleanly.
    for (const q of ['', '?since=-1', '?since=NaN', `?ref=${'x'.repeat(5000)}`]) {
      const s = await client.events(`/api/events${q}`);
      counts.requests++;
      expect(s.response.status).toBe(200);
      s.close();
    }
    expect(bad).toEqual([]);
    expect((await client.fetch('/api/info')).status).toBe(200);
    expect(h.logs.entries().filter((e) => Number(e.level) >= 50)).toEqual([]);
  });

  it('the commands take random inputs without throwing; every refusal has a code and a message', { timeout: 60_000 }, async () => {
    const inv: Invocation = { platform: 'web', userId: 'web:fuzz', admin: false, weight: 1, conversationId: 'web:fuzz', origin: null };
    const c = h.app.commands;
    for (let i = 0; i < 300; i++) {
      const k = i % 3;
      const r =
        k === 0
          ? await c.ask({ prompt: randomJson() as string }, inv)
          : k === 1
            ? c.imagine(Object.fromEntries(Object.keys(BAD).map((f) => [f, rand() < 0.5 ? randomJson() : (VALID.imagine![f] ?? null)])) as never, inv)
            : await c.caption({ imageBytes: rand() < 0.5 ? randomBytes(int(3000)) : png, question: randomJson() as string, detail: randomJson() as never }, inv);
      counts.commandCalls++;
      if (r.ok) continue;
      counts.commandRefused++;
      if (!(ERROR_CODES as readonly string[]).includes(r.error.code) || r.error.message.trim().length < 8) bad.push(`command ${k}: ${JSON.stringify(r.error).slice(0, 200)}`);
      if (r.error.code === 'RUNNER_FAILED') bad.push(`command ${k}: an internal error: ${r.error.message}`);
    }
    await c.cancel(undefined, { ...inv, admin: true });
    expect(bad).toEqual([]);
  });

  async function upload(bytes: Uint8Array): Promise<string> {
    const res = await post('/api/uploads', bytes, 'image/png');
    const body = (await res.json()) as { uploadId?: string };
    if (!body.uploadId) throw new Error(`upload refused: ${JSON.stringify(body)}`);
    return body.uploadId;
  }
});

function randomBytes(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => int(256));
}

/** Sends a command whose body stops before its declared length, then hangs up. */
function cutOff(base: string, path: string, cookie: string): Promise<void> {
  return new Promise((resolve) => {
    const u = new URL(path, base);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '4000', cookie } });
    req.on('error', () => resolve());
    req.on('response', (res) => {
      res.resume();
      res.on('end', resolve);
      res.on('error', () => resolve());
    });
    req.write('{"prompt": "a cut');
    setImmediate(() => {
      req.destroy();
      resolve();
    });
  });
}
