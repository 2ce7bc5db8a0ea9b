import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpuWorker } from '../../src/worker/index.js';
import { HearthApp } from '../../src/app/hearth-app.js';
import { configSchema } from '../../src/config/schema.js';
import type { JobEvent } from '../../src/engine/types.js';
import { LogCapture } from '../helpers/log-capture.js';
import { configCredentials } from '../helpers/tokens.js';
import { pngImage } from '../fixtures/caption/images.js';
import { writeTinyVitGpt2 } from '../fixtures/tiny-captioner.js';
import { writeTinyGguf } from '../fixtures/tiny-gguf.js';
import { writeTinySd } from '../fixtures/tiny-sd.js';
import sharp from 'sharp';

const dir = mkdtempSync(join(tmpdir(), 'hearth-gpu-worker-'));
let app: HearthApp;
// hearth's log at debug level, with the platforms' credentials in the config: scanned after each app closes.
const credentials = configCredentials();
const logs = new LogCapture();

beforeAll(async () => {
  await writeTinyGguf(join(dir, 'tiny.gguf'));
  await writeTinyVitGpt2(join(dir, 'captioner'));
  await writeTinySd(join(dir, 'tiny-sd'));
  const config = configSchema.parse({
    dataDir: join(dir, 'data'),
    ...credentials.config,
    models: {
      chat: { path: join(dir, 'tiny.gguf'), threads: 1, gpu: 'cpu', contextSize: 512, maxTokens: 24, systemPrompt: 'Be brief.', parallel: 1 },
      caption: { dir: join(dir, 'captioner'), providers: ['cpu'], maxNewTokens: 6 },
      image: { dir: join(dir, 'tiny-sd'), providers: ['cpu'], defaults: { width: 256, height: 256, steps: 4 } },
    },
  });
  const log = logs.log;
  app = new HearthApp({ config, log, executor: createGpuWorker(config, 8e9, log), vramBudgetBytes: 8e9, adapters: [] });
  await app.start();
});
afterAll(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
  // Something was logged (the worker's start and the models' loads), and no credential in it.
  expect(logs.lines.length).toBeGreaterThan(0);
  logs.assertNoSecrets(credentials.secrets);
});

async function run(jobId: string): Promise<JobEvent[]> {
  const out: JobEvent[] = [];
  for await (const e of app.engine.watch(jobId)) out.push(e);
  return out;
}

const who = { platform: 'web' as const, userId: 'web:u', admin: false, weight: 1, origin: null, conversationId: 'web:c' };

describe('the real GPU worker with the built-in runners', () => {
  it('knows the configured models and their VRAM estimates', () => {
    const models = app.engine.models();
    expect(models.map((m) => m.model).sort()).toEqual(['caption', 'chat', 'image']);
    // On the CPU the chat model takes no VRAM (no layers offloaded); the captioner's estimate is its files.
    expect(models.find((m) => m.model === 'chat')!.vramBytes).toBe(0);
    expect(models.find((m) => m.model === 'caption')!.vramBytes).toBeGreaterThan(0);
  });

  it('streams an /ask answer from the tiny GGUF through the worker process', async () => {
    const r = await app.commands.ask({ prompt: 'hello there' }, who);
    if (!r.ok) throw new Error(r.error.message);
    const events = await run(r.value.id);
    const tokens = events.filter((e) => e.type === 'token');
    expect(tokens.length).toBeGreaterThan(1);
    const result = events.at(-1);
    expect(result?.type).toBe('result');
    if (result?.type === 'result') expect(result.result.text).toBe(tokens.map((t) => (t.type === 'token' ? t.text : '')).join(''));
  });

  it('frees the only chat slot of a cancelled answer before the next chat begins', async () => {
    const first = await app.commands.ask({ prompt: 'tell me a long story' }, who);
    if (!first.ok) throw new Error(first.error.message);
    let second: Promise<JobEvent[]> | undefined;
    for await (const e of app.engine.watch(first.value.id)) {
      if (e.type === 'token' && !second) {
        expect(app.engine.cancel(first.value.id, { userId: who.userId }).ok).toBe(true);
        const next = await app.commands.ask({ prompt: 'and a short one' }, { ...who, conversationId: 'web:other' });
        if (!next.ok) throw new Error(next.error.message);
        second = run(next.value.id);
      }
    }
    expect(app.engine.getJob(first.value.id)?.state).toBe('cancelled');
    expect(app.engine.getJob(first.value.id)?.result?.stopped).toBe(true);
    // The whole last event, so that a failure shows its error.
    const last = (await second!).at(-1);
    expect(last?.type === 'failed' ? last.error : last?.type).toBe('result');
  });

  it('captions a PNG with the tiny captioner through the worker process', async () => {
    const r = await app.commands.caption({ imageBytes: await pngImage(), contentType: 'image/png' }, who);
    if (!r.ok) throw new Error(r.error.message);
    const events = await run(r.value.id);
    expect(events.at(-1)?.type).toBe('result');
  });

  it('draws an /imagine with the tiny SD model through the worker process: a PNG at the asked size, same seed same bytes', async () => {
    const draw = async (): Promise<Uint8Array> => {
      const r = app.commands.imagine({ prompt: 'a photo of a red cat', steps: 3, width: 256, height: 320, seed: 7 }, who);
      if (!r.ok) throw new Error(r.error.message);
      const events = await run(r.value.id);
      expect(events.filter((e) => e.type === 'progress').length).toBeGreaterThanOrEqual(3);
      const last = events.at(-1);
      if (last?.type !== 'result' || !last.result.image) throw new Error(`no image: ${JSON.stringify(last)}`);
      return last.result.image.png;
    };
    const a = await draw();
    const meta = await sharp(a).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 256, 320]);
    expect(Buffer.from(await draw()).equals(Buffer.from(a))).toBe(true);
  });
});

describe('a GPU worker whose image model is missing', () => {
  it('fails /imagine with MODEL_MISSING naming the folder, and still answers /ask', async () => {
    const config = configSchema.parse({
      dataDir: join(dir, 'data-missing'),
      ...credentials.config,
      models: {
        chat: { path: join(dir, 'tiny.gguf'), threads: 1, gpu: 'cpu', contextSize: 512, maxTokens: 8, systemPrompt: 'Be brief.' },
        image: { dir: join(dir, 'no-such-sd-model'), providers: ['cpu'] },
      },
    });
    const log = logs.log;
    const other = new HearthApp({ config, log, executor: createGpuWorker(config, 8e9, log), vramBudgetBytes: 8e9, adapters: [] });
    await other.start();
    try {
      const r = other.commands.imagine({ prompt: 'a cat', steps: 2 }, who);
      if (!r.ok) throw new Error(r.error.message);
      const events: JobEvent[] = [];
      for await (const e of other.engine.watch(r.value.id)) events.push(e);
      const last = events.at(-1);
      expect(last?.type).toBe('failed');
      if (last?.type === 'failed') {
        expect(last.error.code).toBe('MODEL_MISSING');
        expect(last.error.message).toContain('no-such-sd-model');
      }
      const again = await other.commands.ask({ prompt: 'still there?' }, who);
      if (!again.ok) throw new Error(again.error.message);
      const answer: JobEvent[] = [];
      for await (const e of other.engine.watch(again.value.id)) answer.push(e);
      expect(answer.at(-1)?.type).toBe('result');
    } finally {
      await other.close();
    }
  });
});
