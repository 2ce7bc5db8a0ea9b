import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import type { HearthApp } from '../../src/app/hearth-app.js';
import type { Invocation } from '../../src/commands/invocation.js';
import { errorText } from '../../src/commands/wording.js';
import type { JobEvent } from '../../src/engine/types.js';
import { simApp } from '../helpers/sim-app.js';

const inv = (user: string, extra: Partial<Invocation> = {}): Invocation => ({
  platform: 'web',
  userId: `web:${user}`,
  admin: false,
  weight: 1,
  origin: { test: true },
  ...extra,
});

let running: { app: HearthApp; dataDir: string } | undefined;
afterEach(async () => {
  if (!running) return;
  await running.app.close();
  rmSync(running.dataDir, { recursive: true, force: true });
  running = undefined;
});

async function events(app: HearthApp, jobId: string): Promise<JobEvent[]> {
  const out: JobEvent[] = [];
  for await (const e of app.engine.watch(jobId)) out.push(e);
  return out;
}

describe('commands over the engine', () => {
  it('/ask streams an answer and the conversation remembers it for the next question', async () => {
    const { app, dataDir } = await simApp({ adapters: [] });
    running = { app, dataDir };
    await app.start();
    const who = inv('ann', { conversationId: 'web:conv1' });
    const first = await app.commands.ask({ prompt: 'what is hearth' }, who);
    if (!first.ok) throw new Error(first.error.message);
    const evs = await events(app, first.value.id);
    const tokens = evs.filter((e) => e.type === 'token').map((e) => (e.type === 'token' ? e.text : ''));
    expect(tokens.length).toBeGreaterThan(2);
    expect(tokens.join('')).toContain('hearth');

    const second = await app.commands.ask({ prompt: 'and then?' }, who);
    if (!second.ok) throw new Error(second.error.message);
    const messages = (second.value.payload as { messages: Array<{ role: string; content: string }> }).messages;
    expect(messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(messages[1]!.content).toBe('what is hearth');
    // The runner keeps the conversation's evaluated tokens by this id.
    expect((second.value.payload as { conversationId?: string }).conversationId).toBe('web:conv1');
    await events(app, second.value.id);

    expect(app.commands.forget(who)).toEqual({ ok: true, value: { turns: 4, images: 0 } });
    const third = await app.commands.ask({ prompt: 'fresh start' }, who);
    if (!third.ok) throw new Error(third.error.message);
    expect((third.value.payload as { messages: unknown[] }).messages).toHaveLength(2);
  });

  it('/ask takes a LoRA adapter by option or from the channel, and refuses an unknown one listing the names', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hearth-app-'));
    const adapters = { style: { path: join(dataDir, 'style.gguf') }, terse: { path: join(dataDir, 'terse.gguf') } };
    const { app } = await simApp({ adapters: [], dataDir, config: { models: { chat: { path: join(dataDir, 'sim.gguf'), adapters, channelAdapters: { c1: 'terse' } } } } });
    running = { app, dataDir };
    await app.start();
    expect(app.commands.limits.adapters).toEqual(['style', 'terse']);
    const adapterOf = (r: Awaited<ReturnType<typeof app.commands.ask>>) => (r.ok ? (r.value.payload as { adapter?: string }).adapter : r.error.message);
    expect(adapterOf(await app.commands.ask({ prompt: 'hi', adapter: 'style' }, inv('ann')))).toBe('style');
    expect(adapterOf(await app.commands.ask({ prompt: 'hi' }, inv('ann', { channelId: 'c1' })))).toBe('terse');
    expect(adapterOf(await app.commands.ask({ prompt: 'hi', adapter: 'style' }, inv('ann', { channelId: 'c1' })))).toBe('style');
    expect(adapterOf(await app.commands.ask({ prompt: 'hi' }, inv('ann', { channelId: 'c2' })))).toBeUndefined();
    const refused = await app.commands.ask({ prompt: 'hi', adapter: 'pirate' }, inv('ann'));
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.error).toMatchObject({ code: 'INVALID_INPUT', facts: { option: 'adapter', given: 'pirate', allowed: ['style', 'terse'] } });
    expect(refused.error.message).toBe('there is no adapter "pirate"; the adapters are: style, terse');
  });

  it('/imagine refuses each bad option with the range, and queues a good one that ends in a PNG', async () => {
    const { app, dataDir } = await simApp({ adapters: [] });
    running = { app, dataDir };
    await app.start();
    const cases: Array<[Parameters<typeof app.commands.imagine>[0], RegExp]> = [
      [{ prompt: '   ' }, /prompt is empty/],
      [{ prompt: 'x'.repeat(1001) }, /1001 characters; the limit is 1000/],
      [{ prompt: 'cat', steps: 80 }, /steps must be a whole number from 1 to 60; got 80/],
      [{ prompt: 'cat', width: 500 }, /width must be a multiple of 8 from 256 to 1024; got 500/],
      [{ prompt: 'cat', height: 2048 }, /height must be a multiple of 8 from 256 to 1024; got 2048/],
      [{ prompt: 'cat', guidance: 31 }, /guidance must be from 0 to 30; got 31/],
      [{ prompt: 'cat', seed: -1 }, /seed must be a whole number/],
      [{ prompt: 'cat', scheduler: 'magic' }, /unknown scheduler "magic"/],
    ];
    for (const [input, message] of cases) {
      const r = app.commands.imagine(input, inv('bob'));
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error.message).toMatch(message);
        expect(errorText(r.error)).not.toMatch(/at .*\.ts/); // no stack in what users read
      }
    }
    const ok = app.commands.imagine({ prompt: 'a cat', steps: 3, width: 256, height: 320, seed: 42 }, inv('bob'));
    if (!ok.ok) throw new Error(ok.error.message);
    const evs = await events(app, ok.value.id);
    const result = evs.find((e) => e.type === 'result');
    if (result?.type !== 'result' || !result.result.image) throw new Error('no image');
    const meta = await sharp(result.result.image.png).metadata();
    expect([meta.width, meta.height]).toEqual([256, 320]);
    expect(evs.filter((e) => e.type === 'progress')).toHaveLength(3);
  });

  it('/caption takes image bytes under the cap, and refuses bigger ones with the sizes', async () => {
    const { app, dataDir } = await simApp({ adapters: [], config: { files: { maxBytes: 1000 } } });
    running = { app, dataDir };
    await app.start();
    const big = await app.commands.caption({ imageBytes: new Uint8Array(5000) }, inv('cy'));
    expect(big.ok).toBe(false);
    if (!big.ok) expect(big.error).toMatchObject({ code: 'IMAGE_TOO_LARGE', facts: { given: 5000, allowed: 1000 } });
    const none = await app.commands.caption({}, inv('cy'));
    expect(none.ok).toBe(false);
    const ok = await app.commands.caption({ imageBytes: new Uint8Array(10), question: 'what is it?' }, inv('cy'));
    if (!ok.ok) throw new Error(ok.error.message);
    const evs = await events(app, ok.value.id);
    expect(evs.at(-1)).toMatchObject({ type: 'result', result: { text: 'a simulated caption' } });
  });

  it('/cancel without a job id cancels your newest job; /queue and /hearth status show the queue', async () => {
    const { app, dataDir } = await simApp({ adapters: [], imageStepMs: 50 });
    running = { app, dataDir };
    await app.start();
    const a = app.commands.imagine({ prompt: 'one', steps: 20 }, inv('dee'));
    const b = app.commands.imagine({ prompt: 'two', steps: 20 }, inv('dee'));
    if (!a.ok || !b.ok) throw new Error('refused');
    const view = app.commands.queue(inv('dee'));
    expect(view.mine.map((j) => j.jobId).sort()).toEqual([a.value.id, b.value.id].sort());
    const denied = app.commands.status(inv('dee'));
    expect(denied.ok).toBe(false);
    const status = app.commands.status(inv('root', { admin: true }));
    expect(status.ok && status.value.queue.length + status.value.running.length).toBe(2);
    const c = app.commands.cancel(undefined, inv('dee'));
    expect(c.ok && c.value.id).toBe(b.value.id);
    app.commands.cancel(a.value.id, inv('dee'));
    await app.engine.whenIdle();
    expect(app.engine.getJob(b.value.id)?.state).toBe('cancelled');
  });

  it('/ask with an image: its description enters the conversation, and the model is given it', async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } }).png().toBuffer();
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length });
      res.end(png);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cat.png`;
    try {
      const { app, dataDir } = await simApp({ adapters: [], config: { files: { allowedHosts: ['127.0.0.1'] } } });
      running = { app, dataDir };
      await app.start();
      const who = inv('eve', { conversationId: 'web:vision' });
      const withImage = await app.commands.ask({ prompt: 'what is in it?', imageUrls: [url] }, who);
      if (!withImage.ok) throw new Error(withImage.error.message);
      // The caption job is queued before the chat, and the chat waits for it.
      expect(withImage.value.payload).toMatchObject({ awaiting: [expect.any(String)] });
      const evs = await events(app, withImage.value.id);
      expect(evs.at(-1)?.type).toBe('result');
      const ran = app.engine.getJob(withImage.value.id)!;
      const given = (ran.payload as { messages: Array<{ content: string }> }).messages.map((m) => m.content).join('\n');
      expect(given).toContain('a simulated caption');
      // Given once, and before the question.
      expect(given.split('a simulated caption')).toHaveLength(2);
      expect(given.indexOf('a simulated caption')).toBeLessThan(given.lastIndexOf('what is in it?'));
      expect(ran.payload).toMatchObject({ awaiting: [] });
      // The description stays in the conversation: a later question without an image still sees it.
      const later = await app.commands.ask({ prompt: 'and its colour?' }, who);
      if (!later.ok) throw new Error(later.error.message);
      const laterGiven = (later.value.payload as { messages: Array<{ content: string }> }).messages.map((m) => m.content).join('\n');
      expect(laterGiven).toContain('a simulated caption');
      // Without an image in another conversation, the model is not given one.
      const plain = await app.commands.ask({ prompt: 'what is in it?' }, inv('eve', { conversationId: 'web:other' }));
      if (!plain.ok) throw new Error(plain.error.message);
      expect(JSON.stringify(plain.value.payload)).not.toContain('simulated caption');
      // An image from a host that is not allowed is refused before any download.
      const refused = await app.commands.ask({ prompt: 'x', imageUrls: ['http://example.invalid/a.png'] }, who);
      expect(refused.ok).toBe(false);
      if (!refused.ok) expect(refused.error.code).toBe('HOST_NOT_ALLOWED');
    } finally {
      server.close();
    }
  });

  it('/ask with an image survives a restart while the image is still being described', async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#0f0' } }).png().toBuffer();
    const first = await simApp({ adapters: [], captionStepMs: 2000 });
    await first.app.start();
    const who = inv('fay', { conversationId: 'web:restart-vision' });
    const asked = await first.app.commands.ask({ prompt: 'what colour?', images: [{ bytes: png, contentType: 'image/png' }] }, who);
    if (!asked.ok) throw new Error(asked.error.message);
    await first.app.close(); // the caption is mid-step: it goes back to the queue, the chat still waits for it

    const second = await simApp({ adapters: [], dataDir: first.dataDir });
    running = second;
    // The description was not done when hearth stopped: it is still to run.
    const caption = second.app.store.listJobs({ userId: who.userId }).find((j) => j.kind === 'caption')!;
    expect(caption.state).toBe('queued');
    const evs: JobEvent[] = [];
    const watched = (async () => {
      for await (const e of second.app.engine.watch(asked.value.id)) evs.push(e);
    })();
    await second.app.start();
    await watched;
    expect(evs.at(-1)?.type).toBe('result');
    const given = JSON.stringify(second.app.engine.getJob(asked.value.id)!.payload);
    expect(given).toContain('a simulated caption');
    const turns = second.app.store.getTurns('web:restart-vision').map((t) => t.role);
    expect(turns).toEqual(['context', 'user', 'assistant']);
  });
});
