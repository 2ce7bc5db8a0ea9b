/**
 * The console end to end on the real code path: the supervised GPU worker process with the built-in
 * runners, node-llama-cpp on a tiny GGUF and transformers.js on a tiny captioner that the test writes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HearthApp } from '../../src/app/hearth-app.js';
import { createGpuWorker } from '../../src/worker/index.js';
import { createWebAdapter, type WebAdapter } from '../../src/bots/web/index.js';
import { configSchema } from '../../src/config/schema.js';
import { ConsoleClient, isMessage } from '../browser/support/http-client.js';
import { writeTinyVitGpt2 } from '../fixtures/tiny-captioner.js';
import { writeTinyGguf } from '../fixtures/tiny-gguf.js';
import { LogCapture } from '../helpers/log-capture.js';
import { configCredentials, consoleToken } from '../helpers/tokens.js';

describe('web console with the real tiny models', () => {
  let app: HearthApp;
  let web: WebAdapter;
  let dataDir: string;
  // hearth's log at debug level, with a console token and the platforms' credentials in the config.
  const logs = new LogCapture();
  const credentials = configCredentials();
  const token = consoleToken();

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'hearth-web-real-'));
    await writeTinyGguf(join(dataDir, 'tiny.gguf'), { reply: 'hi 🙂' });
    await writeTinyVitGpt2(join(dataDir, 'captioner'));
    const config = configSchema.parse({
      dataDir,
      log: { level: 'error' },
      models: {
        chat: { path: join(dataDir, 'tiny.gguf'), threads: 1, parallel: 2, contextSize: 512, maxTokens: 24, gpu: 'cpu', systemPrompt: 'Be brief.' },
        caption: { dir: join(dataDir, 'captioner'), providers: ['cpu'] },
      },
      web: { port: 0, token },
      ...credentials.config,
    });
    const log = logs.log;
    app = new HearthApp({
      config,
      log,
      executor: createGpuWorker(config, 4e9, log),
      vramBudgetBytes: 4e9,
      adapters: [(ctx) => (web = createWebAdapter(ctx))],
    });
    await app.start();
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    expect(logs.lines.length).toBeGreaterThan(0);
    logs.assertNoSecrets({ ...credentials.secrets, 'web.token': token });
  });

  it('streams a real chat answer, captions an upload, and lets the chat see an image', async () => {
    const c = await new ConsoleClient(web.url(), { authorization: `Bearer ${token}` }).visit();
    const events = await c.events();
    try {
      const asked = await c.post('/api/ask', { prompt: 'hello', ref: 'real1' });
      expect(asked.status).toBe(200);
      const chat = await events.job(asked.json.jobId as string, undefined, 60_000);
      expect(chat.state).toBe('done');
      expect(chat.text).toBe('hi 🙂');
      const tokens = events.messages.filter((m) => isMessage(m) && m.type === 'token' && m.jobId === chat.jobId);
      expect(tokens.length).toBeGreaterThan(1);

      const photo = await sharp({ create: { width: 48, height: 40, channels: 3, background: '#3a7' } }).jpeg().toBuffer();
      const up = await c.fetch('/api/uploads', { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: photo });
      const { uploadId } = (await up.json()) as { uploadId: string };
      const cap = await c.post('/api/caption', { uploadId, ref: 'real2' });
      const caption = await events.job(cap.json.jobId as string, undefined, 60_000);
      expect(caption.state).toBe('done');
      expect(typeof caption.text).toBe('string');

      const up2 = await c.fetch('/api/uploads', { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: photo });
      const second = (await up2.json()) as { uploadId: string };
      const seeing = await c.post('/api/ask', { prompt: 'what is this', uploadId: second.uploadId, ref: 'real3' });
      expect(seeing.json.kind).toBe('chat');
      const answer = await events.job(seeing.json.jobId as string, undefined, 60_000);
      expect(answer).toMatchObject({ ref: 'real3', state: 'done', prompt: 'what is this', text: 'hi 🙂' });
      const described = { job: { text: answer.note ?? '' } };
      expect(described.job.text.length).toBeGreaterThan(0);
      // What the real chat model was given: the captioner's description, before the question.
      const messages = (app.engine.getJob(answer.jobId)?.payload as { messages: Array<{ role: string; content: string }> }).messages;
      expect(messages.slice(-2).map((m) => m.role)).toEqual(['user', 'user']);
      expect(messages.at(-2)!.content).toContain(`A description of it: ${described!.job.text}`);
      expect(messages.at(-1)!.content).toBe('what is this');
    } finally {
      events.close();
    }
  }, 120_000);
});
