/**
 * Slack's `/imagine --image <link of a file shared in Slack>`: the command downloads it with the bot
 * token (the fake Slack's file host records the Authorization it was sent) under files.allowedHosts and
 * files.maxBytes, and queues image-to-image with the strength given; a link to a host not allowed is
 * refused in words, privately, and nothing is queued.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Json } from '../../src/engine/types.js';
import { SlackHarness, waitFor } from '../fakes/slack/harness.js';

describe('Slack /imagine --image', () => {
  let h: SlackHarness;
  const queued = new Map<string, Record<string, Json>>();

  beforeAll(async () => {
    h = await SlackHarness.start({ mode: 'socket', imageStepMs: 10, slack: { allowedTeams: ['T0001'], allowedChannels: ['C1'] }, tokenForFiles: true });
    h.app.engine.on((e) => {
      const p = h.app.engine.getJob(e.jobId)?.payload;
      if (!queued.has(e.jobId) && p && typeof p === 'object' && !Array.isArray(p)) queued.set(e.jobId, p);
    });
  });

  afterAll(async () => {
    await h?.close({ fake: true });
  });

  it('downloads the shared file with the bot token and queues it with the strength', async () => {
    const bytes = new Uint8Array(await sharp({ create: { width: 12, height: 12, channels: 3, background: '#a52' } }).png().toBuffer());
    const file = h.fake.addFile(bytes, 'start.png') as { url_private: string };
    // Slack sends a pasted link as <url>.
    await h.command('/imagine', `a kiln at night --steps 2 --image <${file.url_private}> --strength 0.3`, { user: 'U1', channel: 'C1' });
    const job = await waitFor('the image-to-image job', () => h.app.store.listJobs({ userId: 'slack:U1' }).find((j) => j.kind === 'image'));
    const p = await waitFor('its queued payload', () => queued.get(job.id));
    expect([p.initImageBase64, p.strength, p.prompt]).toEqual([Buffer.from(bytes).toString('base64'), 0.3, 'a kiln at night']);
    const path = new URL(file.url_private).pathname;
    expect(h.fake.fileRequests.filter((r) => r.path === path).map((r) => r.authorization)).toEqual([`Bearer ${h.fake.botToken}`]);
    await waitFor('the picture', () => h.fake.state.files.find((f) => f.comment?.includes('a kiln at night')));
    expect(h.errors).toEqual([]);
  });

  it('refuses a link to a host files.allowedHosts does not name, privately, and queues nothing', async () => {
    const responses = h.fake.responses.length;
    await h.command('/imagine', 'a kiln --image https://elsewhere.example/x.png', { user: 'U2', channel: 'C1' });
    const r = await waitFor('the refusal', () => h.fake.responses.slice(responses).find((x) => typeof x.body.text === 'string' && /elsewhere\.example/.test(String(x.body.text))));
    expect(r.body.response_type).toBe('ephemeral');
    expect(h.app.store.listJobs({ userId: 'slack:U2' })).toEqual([]);
  });
});
