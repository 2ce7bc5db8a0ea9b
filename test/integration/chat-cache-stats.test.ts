/**
 * The conversation cache's counters travel from the real GPU worker process (the chat runner on the
 * tiny GGUF) to the main process in zod-checked `counters` messages, and show in the dashboard's view
 * and at GET /metrics (read by a Prometheus text parser); so do the draft model's accepted and
 * rejected tokens.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HearthApp } from '../../src/app/hearth-app.js';
import { DashboardFeed } from '../../src/bots/web/dashboard-feed.js';
import { createWebAdapter, type WebAdapter } from '../../src/bots/web/index.js';
import { SseHub } from '../../src/bots/web/sse.js';
import { configSchema } from '../../src/config/schema.js';
import { systemClock } from '../../src/engine/clock.js';
import { createGpuWorker } from '../../src/worker/index.js';
import { createLogger } from '../../src/util/log.js';
import { writeTinyGguf } from '../fixtures/tiny-gguf.js';

const dir = mkdtempSync(join(tmpdir(), 'hearth-cache-stats-'));
let app: HearthApp;
let web: WebAdapter;

beforeAll(async () => {
  await writeTinyGguf(join(dir, 'tiny.gguf'));
  const config = configSchema.parse({
    dataDir: join(dir, 'data'),
    web: { port: 0 },
    models: { chat: { path: join(dir, 'tiny.gguf'), threads: 1, gpu: 'cpu', contextSize: 512, maxTokens: 8, systemPrompt: 'Be brief.', parallel: 2,
      // The chat model as its own draft: its drafts are checked, and (all being its own tokens) accepted.
      draft: { path: join(dir, 'tiny.gguf'), minConfidence: 0, maxTokens: 4, minTokens: 4 } } },
  });
  const log = createLogger('silent');
  app = new HearthApp({ config, log, executor: createGpuWorker(config, 8e9, log), vramBudgetBytes: 8e9, adapters: [(ctx) => (web = createWebAdapter(ctx))] });
  await app.start();
});
afterAll(async () => {
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

const admin = { platform: 'web' as const, userId: 'web:admin', admin: true, weight: 1, origin: null };

async function answered(prompt: string, conversationId: string): Promise<void> {
  const r = await app.commands.ask({ prompt }, { ...admin, conversationId });
  if (!r.ok) throw new Error(r.error.message);
  for await (const e of app.engine.watch(r.value.id)) if (e.type === 'failed') throw new Error(e.error.message);
}

async function metric(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = await (await fetch(new URL('/metrics', web.url()))).text();
  const family = parsePrometheusTextFormat(text).find((f) => f.name === name);
  const sample = family?.metrics.find((m) => JSON.stringify(m.labels ?? {}) === JSON.stringify(labels));
  return sample?.value === undefined ? undefined : Number(sample.value);
}

describe('conversation cache counters from the GPU worker', () => {
  it('counts a follow-up as a hit, and shows hits, misses, tokens and drafts on the dashboard and at /metrics', async () => {
    expect(await metric('hearth_chat_cache_hits_total', { model: 'chat' })).toBeUndefined();
    await answered('what is a cat', 'web:one');
    await answered('and the dog', 'web:one');
    await answered('why is the night dark', 'web:two');

    const cache = app.engine.runnerCounters().chat?.conversationCache;
    expect(cache).toMatchObject({ hits: 1, misses: 2, evictions: 0 });
    // The follow-up found its first turn evaluated: reused tokens, and fewer evaluated than the prompts hold.
    expect(cache?.reusedTokens).toBeGreaterThan(10);
    expect(cache?.evaluatedTokens).toBeGreaterThan(10);

    const feed = new DashboardFeed({ commands: app.commands, hub: new SseHub<string>(), clock: systemClock, onError: (e) => { throw e; } });
    expect(feed.view().runnerCounters?.chat?.conversationCache).toEqual(cache);

    expect(await metric('hearth_chat_cache_hits_total', { model: 'chat' })).toBe(1);
    expect(await metric('hearth_chat_cache_misses_total', { model: 'chat' })).toBe(2);
    expect(await metric('hearth_chat_cache_evictions_total', { model: 'chat' })).toBe(0);
    expect(await metric('hearth_chat_prompt_tokens_total', { model: 'chat', source: 'reused' })).toBe(cache?.reusedTokens);
    expect(await metric('hearth_chat_prompt_tokens_total', { model: 'chat', source: 'evaluated' })).toBe(cache?.evaluatedTokens);
    // Speculative decoding: the tokens drafted, accepted or rejected, reach the dashboard and /metrics.
    const draft = app.engine.runnerCounters().chat?.draft;
    expect(draft?.accepted).toBeGreaterThan(0);
    expect(feed.view().runnerCounters?.chat?.draft).toEqual(draft);
    expect(await metric('hearth_chat_draft_tokens_total', { model: 'chat', result: 'accepted' })).toBe(draft?.accepted);
    expect(await metric('hearth_chat_draft_tokens_total', { model: 'chat', result: 'rejected' })).toBe(draft?.rejected);
    // The contract's families are still there.
    expect(await metric('hearth_chat_tokens_total', {})).toBeGreaterThan(0);
  });
});
