/**
 * The commands hold every option to the job contracts when the command is given: a refused option
 * queues nothing (issue 13 item 7), and what can run is answered from the config while hearth starts.
 */
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { HearthApp } from '../../src/app/hearth-app.js';
import type { Invocation } from '../../src/commands/invocation.js';
import { imageOptionsOf } from '../../src/jobs/image.js';
import { simApp } from '../helpers/sim-app.js';

const inv = (user: string): Invocation => ({ platform: 'web', userId: `web:${user}`, admin: false, weight: 1, origin: { test: true } });

let running: { app: HearthApp; dataDir: string } | undefined;
afterEach(async () => {
  if (!running) return;
  await running.app.close();
  rmSync(running.dataDir, { recursive: true, force: true });
  running = undefined;
});

async function started(config: Record<string, unknown> = {}): Promise<HearthApp> {
  const { app, dataDir } = await simApp({ adapters: [], config });
  running = { app, dataDir };
  await app.start();
  return app;
}

const queued = (app: HearthApp, user: string) => app.store.listJobs({ userId: `web:${user}` }).length;

describe('commands hold options to the job contracts', () => {
  it('/imagine refuses a negative prompt over the limit when the command is given, and queues nothing', async () => {
    const app = await started({ models: { image: { dir: '/m/sd', limits: { maxPromptChars: 50 } } } });
    const r = app.commands.imagine({ prompt: 'a cat', negativePrompt: 'n'.repeat(51) }, inv('neg'));
    expect(r).toEqual({
      ok: false,
      error: { code: 'PROMPT_TOO_LONG', message: 'the negative prompt is 51 characters; the limit is 50', facts: { option: 'negativePrompt', given: 51, allowed: 50 } },
    });
    expect(queued(app, 'neg')).toBe(0);
    expect(app.engine.snapshot().queue).toHaveLength(0);
  });

  it('/imagine stores a complete payload that the views read back, and a reroll keeps all but the seed', async () => {
    const app = await started();
    const r = app.commands.imagine({ prompt: ' a fox ', negativePrompt: 'blur', steps: 3, seed: 11 }, inv('fox'));
    if (!r.ok) throw new Error(r.error.message);
    const options = imageOptionsOf(r.value);
    expect(options).toMatchObject({ prompt: 'a fox', negativePrompt: 'blur', steps: 3, seed: 11, width: 512, height: 512, scheduler: 'euler' });
    const again = app.commands.reroll(r.value.id, inv('fox'));
    if (!again.ok) throw new Error(again.error.message);
    const rerolled = imageOptionsOf(again.value);
    expect({ ...rerolled, seed: 0 }).toEqual({ ...options, seed: 0 });
  });

  it('/caption refuses a long question or an unknown detail before it downloads anything', async () => {
    let fetched = 0;
    const { app, dataDir } = await simApp({
      adapters: [],
      fetch: async () => {
        fetched++;
        return new Response('never');
      },
    });
    running = { app, dataDir };
    await app.start();
    const long = await app.commands.caption({ imageUrl: 'https://cdn.discordapp.com/a.png', question: 'q'.repeat(501) }, inv('cap'));
    expect(long).toMatchObject({ ok: false, error: { code: 'PROMPT_TOO_LONG', facts: { option: 'question', given: 501, allowed: 500 } } });
    const detail = await app.commands.caption({ imageUrl: 'https://cdn.discordapp.com/a.png', detail: 'huge' as 'short' }, inv('cap'));
    expect(detail).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', facts: { option: 'detail', given: 'huge', allowed: ['short', 'detailed'] } } });
    expect(fetched).toBe(0);
    expect(queued(app, 'cap')).toBe(0);
  });

  it('/ask refuses an empty or over-long question with the contract\'s facts, and queues nothing', async () => {
    const app = await started();
    expect(await app.commands.ask({ prompt: '  ' }, inv('q'))).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', facts: { option: 'prompt', given: 0 } } });
    expect(await app.commands.ask({ prompt: 'a'.repeat(6001) }, inv('q'))).toMatchObject({ ok: false, error: { code: 'PROMPT_TOO_LONG', facts: { option: 'prompt', given: 6001, allowed: 6000 } } });
    expect(queued(app, 'q')).toBe(0);
  });

  it('says which commands can run from the config, before any model is up', async () => {
    const { app, dataDir } = await simApp({ adapters: [] });
    running = { app, dataDir };
    expect(app.engine.models()).toHaveLength(0); // not started: nothing is loaded or even known
    expect(app.commands.available()).toEqual({ ask: true, imagine: true, caption: true });
    await app.start();
    const chatOnly = await simApp({ adapters: [], config: { models: { chat: { path: '/m/a.gguf' } } } });
    try {
      expect(chatOnly.app.commands.available()).toEqual({ ask: true, imagine: false, caption: false });
    } finally {
      await chatOnly.app.close();
      rmSync(chatOnly.dataDir, { recursive: true, force: true });
    }
  });

  it('shows the contracts\' limits to the adapters', async () => {
    const app = await started({ models: { image: { dir: '/m/sd', limits: { maxPromptChars: 50, maxSteps: 40 } } } });
    expect(app.commands.limits).toMatchObject({
      maxPromptChars: 6000,
      maxQuestionChars: 500,
      captionDetails: ['short', 'detailed'],
      image: { minSize: 256, maxSize: 1024, sizeMultiple: 8, maxSteps: 40, minGuidance: 0, maxGuidance: 30, maxSeed: 4294967295, maxPromptChars: 50 },
    });
    expect(app.commands.limits.image.schedulers).toContain('default');
  });
});
