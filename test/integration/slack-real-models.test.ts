/**
 * The Slack app on hearth's real GPU worker process with the real runners on tiny models the test
 * writes itself: a mention with an image is described by the tiny captioner, and the tiny chat model's
 * answer is streamed into the thread.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { HearthApp } from '../../src/app/hearth-app.js';
import { createGpuWorker } from '../../src/worker/index.js';
import { createSlackAdapter, type SlackAdapter } from '../../src/bots/slack/index.js';
import { configSchema } from '../../src/config/schema.js';
import { FakeSlack } from '../fakes/slack/fake-slack.js';
import { SlackHarness, waitFor } from '../fakes/slack/harness.js';
import { mention } from '../fakes/slack/payloads.js';
import { writeTinyVitGpt2 } from '../fixtures/tiny-captioner.js';
import { writeTinyGguf } from '../fixtures/tiny-gguf.js';
import { LogCapture } from '../helpers/log-capture.js';

let dir: string;
let h: SlackHarness;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hearth-slack-real-'));
  await writeTinyGguf(join(dir, 'chat.gguf'), { reply: 'hi 🙂' });
  await writeTinyVitGpt2(join(dir, 'caption'));
  const fake = new FakeSlack();
  await fake.start();
  const config = configSchema.parse({
    dataDir: join(dir, 'data'),
    slack: SlackHarness.slackConfig(fake, 'socket'),
    files: { allowedHosts: ['127.0.0.1'] },
    models: {
      chat: { path: join(dir, 'chat.gguf'), threads: 1, parallel: 2, contextSize: 512, maxTokens: 40, gpu: 'cpu', systemPrompt: 'Be brief.' },
      caption: { dir: join(dir, 'caption'), providers: ['cpu'], maxNewTokens: 8, detailedMaxNewTokens: 16 },
    },
  });
  // The GPU worker's log lines come through this one: scanned for the credentials when the harness closes.
  const logs = new LogCapture();
  const log = logs.log;
  let adapter: SlackAdapter | undefined;
  const app = new HearthApp({
    config,
    log,
    executor: createGpuWorker(config, 8 * 2 ** 30, log),
    vramBudgetBytes: 8 * 2 ** 30,
    adapters: [(ctx) => (adapter = createSlackAdapter(ctx, { clientOptions: { retryConfig: { retries: 0 } } }))],
  });
  await app.start();
  h = SlackHarness.wrap(fake, app, adapter!, config.dataDir, 'socket', logs);
}, 120_000);

afterAll(async () => {
  await h?.close({ fake: true });
  await rm(dir, { recursive: true, force: true });
});

test('a mention with an image: described by the tiny captioner, answered by the tiny chat model', async () => {
  const png = await sharp({ create: { width: 48, height: 32, channels: 3, background: { r: 10, g: 120, b: 200 } } }).png().toBuffer();
  const m = mention('what do you see?', { user: 'U1', channel: 'C1', files: [h.fake.addFile(new Uint8Array(png))] });
  await h.event(m.event);
  const answer = await waitFor('the answer', () => h.fake.state.thread('C1', m.ts).find((x) => x.stream?.stopped), 60_000);
  expect(answer.text).toBe('hi 🙂');
  const jobs = h.app.store.listJobs({ userId: 'slack:U1' });
  expect(jobs.map((j) => [j.kind, j.state])).toEqual([['caption', 'done'], ['chat', 'done']]);
  expect(typeof jobs[0]?.result?.text).toBe('string');
  expect(JSON.stringify(jobs[1]?.payload)).toContain('The user shared an image');
  expect(h.errors).toEqual([]);
}, 60_000);
