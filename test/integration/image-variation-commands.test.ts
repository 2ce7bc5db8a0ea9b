/**
 * Image-to-image and Vary through the shared commands, on a whole hearth with a simulated GPU: what
 * each queues (the bytes, the strength, the source job, a new seed), what a Reroll of such an image
 * does, and the refusals (a strength outside 0–1 or without an image, an image that is not one, one
 * over `files.maxBytes`, a job with no picture yet), each in words naming what was given and allowed.
 */
import { rmSync } from 'node:fs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HearthApp } from '../../src/app/hearth-app.js';
import type { Invocation } from '../../src/commands/invocation.js';
import type { JobRecord, Json, Result } from '../../src/engine/types.js';
import { simApp } from '../helpers/sim-app.js';

const inv = (user: string): Invocation => ({ platform: 'web', userId: `web:${user}`, admin: false, weight: 1, origin: { test: true } });

let app: HearthApp;
let dataDir: string;
const queued = new Map<string, Record<string, Json>>();

beforeAll(async () => {
  ({ app, dataDir } = await simApp({ adapters: [], config: { files: { maxBytes: 4096 }, limits: { maxQueuedPerUser: 10 } } }));
  await app.start();
  // The payload as queued: the store drops the init image once a job ends.
  app.engine.on((e) => {
    const p = app.engine.getJob(e.jobId)?.payload;
    if (!queued.has(e.jobId) && p && typeof p === 'object' && !Array.isArray(p)) queued.set(e.jobId, p);
  });
});

afterAll(async () => {
  await app?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

function accepted(r: Result<JobRecord>): JobRecord {
  if (!r.ok) throw new Error(`refused: ${r.error.message}`);
  return r.value;
}

async function done(job: JobRecord): Promise<JobRecord> {
  for await (const e of app.engine.watch(job.id)) if (e.type === 'failed') throw new Error(e.error.message);
  const ended = app.engine.getJob(job.id)!;
  expect(ended.state).toBe('done');
  return ended;
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

describe('image-to-image and Vary through the commands', () => {
  it('a Vary queues the result PNG at its strength with a new seed; a Reroll of a variation varies the same picture again', async () => {
    const source = await done(accepted(app.commands.imagine({ prompt: 'a harbour', steps: 3, seed: 99, width: 256, height: 256 }, inv('ann'))));
    const png = source.result!.image!.png;

    const variation = accepted(app.commands.vary(source.id, 0.35, inv('bo')));
    expect(variation.userId).toBe('web:bo');
    const p = queued.get(variation.id)!;
    expect([p.initImageBase64, p.strength, p.variationOf, p.prompt, p.steps, p.width]).toEqual([b64(png), 0.35, source.id, 'a harbour', 3, 256]);
    expect(p.seed).not.toBe(99);
    const varied = await done(variation);

    const again = accepted(app.commands.reroll(varied.id, inv('bo')));
    const q = queued.get(again.id)!;
    expect([q.initImageBase64, q.strength, q.variationOf]).toEqual([b64(png), 0.35, source.id]);
    expect(q.seed).not.toBe(p.seed);
    await done(again);
  });

  it('/imagine with image bytes and a strength queues them; its Reroll is refused (the upload is not kept), pointing to Vary', async () => {
    const bytes = new Uint8Array(await sharp({ create: { width: 16, height: 16, channels: 3, background: '#36c' } }).png().toBuffer());
    const job = accepted(await app.commands.imagineFrom({ prompt: 'the same, at dawn', steps: 2, image: { bytes }, strength: 0.5 }, inv('cy')));
    expect([queued.get(job.id)?.initImageBase64, queued.get(job.id)?.strength]).toEqual([b64(bytes), 0.5]);
    const ended = await done(job);
    expect((ended.payload as Record<string, Json>).initImageBase64).toBeUndefined();
    const reroll = app.commands.reroll(job.id, inv('cy'));
    expect(reroll.ok).toBe(false);
    if (!reroll.ok) expect([reroll.error.code, reroll.error.message]).toEqual(['NOT_FOUND', expect.stringContaining('vary its result')]);
    // Its picture can be varied.
    await done(accepted(app.commands.vary(job.id, 0.7, inv('cy'))));
  });

  it('refuses a strength outside 0–1, a strength without an image, a file that is no image, one over files.maxBytes, and a job with no picture yet', async () => {
    const before = app.store.listJobs({}).length;
    const bytes = new Uint8Array(await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } }).png().toBuffer());
    const cases: Array<[Result<JobRecord>, string, RegExp]> = [
      [await app.commands.imagineFrom({ prompt: 'x', image: { bytes }, strength: 1.5 }, inv('ed')), 'INVALID_INPUT', /strength must be from 0 to 1; got 1\.5/],
      [await app.commands.imagineFrom({ prompt: 'x', strength: 0.5 }, inv('ed')), 'INVALID_INPUT', /strength is for image-to-image/],
      [await app.commands.imagineFrom({ prompt: 'x', image: { bytes: new TextEncoder().encode('not a picture at all') } }, inv('ed')), 'IMAGE_INVALID', /not a PNG, JPEG, GIF or WebP/],
      [await app.commands.imagineFrom({ prompt: 'x', image: { bytes: new Uint8Array(5000) } }, inv('ed')), 'IMAGE_TOO_LARGE', /5000 bytes; the limit is 4096/],
    ];
    const slow = accepted(app.commands.imagine({ prompt: 'still painting', steps: 60 }, inv('ed')));
    cases.push([app.commands.vary(slow.id, 0.35, inv('ed')), 'NOT_FOUND', /has no picture yet/]);
    cases.push([app.commands.vary('no-such-job', 0.35, inv('ed')), 'NOT_FOUND', /gone/]);
    app.engine.cancel(slow.id, { userId: 'web:ed', admin: true });
    for (const [r, code, words] of cases) {
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      expect(r.error.code).toBe(code);
      expect(r.error.message).toMatch(words);
    }
    const source = await done(accepted(app.commands.imagine({ prompt: 'a field', steps: 2 }, inv('ed'))));
    const tooStrong = app.commands.vary(source.id, 1.2, inv('ed'));
    expect(tooStrong.ok ? '' : tooStrong.error.message).toMatch(/strength must be from 0 to 1; got 1\.2/);
    // Only the slow painting and the field were queued.
    expect(app.store.listJobs({}).length).toBe(before + 2);
  });
});
