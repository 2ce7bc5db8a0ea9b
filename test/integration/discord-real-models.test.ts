/**
 * The Discord adapter on hearth's real GPU worker process with the real runners on tiny models the
 * test writes itself: /caption is answered by the tiny captioner; /ask with an image is described by it
 * and answered, streamed, by the tiny chat model.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { HearthApp } from '../../src/app/hearth-app.js';
import { createGpuWorker } from '../../src/worker/index.js';
import { DiscordAdapter } from '../../src/bots/discord/index.js';
import { configSchema } from '../../src/config/schema.js';
import { FakeDiscord } from '../fakes/discord/fake-discord.js';
import { discordSecrets } from '../fakes/discord/harness.js';
import { writeTinyVitGpt2 } from '../fixtures/tiny-captioner.js';
import { writeTinyGguf } from '../fixtures/tiny-gguf.js';
import { LogCapture } from '../helpers/log-capture.js';

let dir: string;
let fake: FakeDiscord;
let app: HearthApp;
let logs: LogCapture | undefined;
const reported: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hearth-discord-real-'));
  await writeTinyGguf(join(dir, 'chat.gguf'), { reply: 'hi 🙂' });
  await writeTinyVitGpt2(join(dir, 'caption'));
  fake = await FakeDiscord.start();
  const config = configSchema.parse({
    dataDir: join(dir, 'data'),
    discord: { token: fake.token, applicationId: fake.applicationId, apiBaseUrl: fake.apiBaseUrl, editIntervalMs: 250 },
    files: { allowedHosts: ['127.0.0.1'] },
    models: {
      chat: { path: join(dir, 'chat.gguf'), threads: 1, parallel: 2, contextSize: 512, maxTokens: 40, gpu: 'cpu', systemPrompt: 'Be brief.' },
      caption: { dir: join(dir, 'caption'), providers: ['cpu'], maxNewTokens: 8, detailedMaxNewTokens: 16 },
    },
  });
  // The GPU worker's log lines come through this one: scanned for the credentials at the end.
  logs = new LogCapture();
  const log = logs.log;
  app = new HearthApp({
    config,
    log,
    executor: createGpuWorker(config, 8 * 2 ** 30, log),
    vramBudgetBytes: 8 * 2 ** 30,
    adapters: [
      (ctx) =>
        new DiscordAdapter({
          ...ctx,
          reportError: (e, where) => {
            reported.push(`${where}: ${e instanceof Error ? e.message : String(e)}`);
            ctx.reportError(e, where);
          },
        }),
    ],
  });
  await app.start();
}, 120_000);

afterAll(async () => {
  await app?.close();
  if (fake && logs) logs.assertNoSecrets(discordSecrets(fake));
  await fake?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('/caption and /ask with an image, on the tiny captioner and the tiny chat model', async () => {
  const png = new Uint8Array(await sharp({ create: { width: 48, height: 32, channels: 3, background: { r: 10, g: 120, b: 200 } } }).png().toBuffer());
  const photo = fake.upload('photo.png', png, 'image/png');
  const user = fake.user('vera');

  const cap = fake.slash('caption', { image: photo }, { user });
  const captioned = await fake.waitFor(() => fake.original(cap)?.content.startsWith('📝') && fake.original(cap), 'the caption', 60_000);
  expect(captioned.content.length).toBeGreaterThan(2);

  const ask = fake.slash('ask', { prompt: 'what do you see?', image: photo }, { user });
  const answer = await fake.waitFor(() => fake.original(ask)?.content === 'hi 🙂' && fake.original(ask), 'the answer', 60_000);
  expect(answer.history.some((c) => c.startsWith('👀 Looking at your image first'))).toBe(true);
  const jobs = app.store.listJobs({ userId: `discord:${user.id}` });
  expect(jobs.map((j) => [j.kind, j.state])).toEqual([['caption', 'done'], ['caption', 'done'], ['chat', 'done']]);
  expect(JSON.stringify(jobs[2]?.payload)).toContain('The user shared an image');
  expect(reported).toEqual([]);
}, 90_000);
