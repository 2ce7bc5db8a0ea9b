/**
 * The chat runner's conversation cache (idle sequences keep a conversation's evaluated tokens) and
 * chunked prompt evaluation, on the real node-llama-cpp and the tiny GGUF the fixtures write.
 * Evaluated tokens are counted from what llama.cpp's batches carried (the runner's batch strategy
 * sees every batch), not from the runner's own arithmetic.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Llama } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobResult, Json } from '../../src/engine/types.js';
import { ChatRunner, type ChatRunnerSettings } from '../../src/runners/llm/chat-runner.js';
import { writeTinyGguf } from '../fixtures/tiny-gguf.js';
import { chatSettings, cpuLlama, stepUntilDone } from '../helpers/chat-runners.js';

let dir: string;
let llama: Llama;
let model: string;

const SYSTEM = 'Be brief.';
const MAX_TOKENS = 12;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hearth-chat-cache-'));
  model = join(dir, 'tiny.gguf');
  await writeTinyGguf(model);
  llama = await cpuLlama();
});

afterAll(async () => {
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
});

async function loadedRunner(overrides: Partial<ChatRunnerSettings> = {}, now?: () => number): Promise<ChatRunner> {
  const runner = new ChatRunner(chatSettings(model, { maxTokens: MAX_TOKENS, tokensPerStep: 4, ...overrides }), { llama, ...(now ? { now } : {}) });
  await runner.load();
  return runner;
}

type Turn = { role: 'user' | 'assistant'; content: string };

function payload(turns: readonly Turn[], conversationId?: string): Json {
  return { messages: [{ role: 'system', content: SYSTEM }, ...turns], ...(conversationId ? { conversationId } : {}) };
}

interface Run {
  result: JobResult;
  /** Tokens llama.cpp's batches carried while the job ran. */
  batchTokens: number;
  /** Batch tokens of each step. */
  stepTokens: number[];
  /** Steps before the first token came out. */
  stepsToFirstToken: number;
}

/** Begins the jobs, steps them together until all are done, ends them. */
async function runTogether(runner: ChatRunner, jobs: ReadonlyArray<readonly [string, Json]>): Promise<Map<string, Run>> {
  for (const [id, p] of jobs) await runner.begin({ id, kind: 'chat', model: 'chat', userId: `u-${id}`, payload: p });
  const start = runner.stats().tokens;
  const stepTokens: number[] = [];
  const firstToken = new Map<string, number>();
  let before = start;
  const { results } = await stepUntilDone(
    runner,
    jobs.map(([id]) => id),
    {
      maxSteps: 500,
      beforeStep: () => (before = runner.stats().tokens),
      emit: (id, event) => {
        if (event.type === 'token' && !firstToken.has(id)) firstToken.set(id, stepTokens.length + 1);
      },
      afterStep: () => stepTokens.push(runner.stats().tokens - before),
    },
  );
  const total = runner.stats().tokens - start;
  return new Map(
    jobs.map(([id]) => [
      id,
      { result: results.get(id) as JobResult, batchTokens: total, stepTokens, stepsToFirstToken: firstToken.get(id) ?? Infinity },
    ]),
  );
}

async function answer(runner: ChatRunner, id: string, p: Json): Promise<Run> {
  return (await runTogether(runner, [[id, p]])).get(id) as Run;
}

function meta(run: Run, key: string): number {
  return Number(run.result.meta?.[key]);
}

const FIRST: Turn = { role: 'user', content: 'what is a cat and why is the night dark' };
const SECOND: Turn = { role: 'user', content: 'and how is the dog' };

describe('ChatRunner conversation cache', () => {
  it('a follow-up evaluates only the new turn, and answers as a cold run does; also after a restart', async () => {
    const runner = await loadedRunner();
    const first = await answer(runner, 'a1', payload([FIRST], 'conv-a'));
    const firstPrompt = runner.preparePrompt(payload([FIRST])).promptTokens;
    const turns: Turn[] = [FIRST, { role: 'assistant', content: first.result.text ?? '' }, SECOND];
    const followUpPrompt = runner.preparePrompt(payload(turns)).promptTokens;
    const newTurn = followUpPrompt - firstPrompt;
    expect(newTurn).toBeGreaterThan(5);

    const followUp = await answer(runner, 'a2', payload(turns, 'conv-a'));
    expect(runner.stats().cache).toMatchObject({ hits: 1, misses: 1, evictions: 0 });
    const cached = meta(followUp, 'cachedTokens');
    expect(cached).toBeGreaterThanOrEqual(firstPrompt - 1);
    // llama.cpp evaluated the uncached prompt tokens once, then one token per answer token after the first.
    const generated = meta(followUp, 'generatedTokens');
    expect(followUp.batchTokens).toBe(followUpPrompt - cached + generated - 1);
    expect(followUp.batchTokens - (generated - 1)).toBeLessThanOrEqual(newTurn + 1);

    // Cold: no cache at all. Same answer, and the whole prompt evaluated.
    const coldRunner = await loadedRunner({ cacheConversations: 0 });
    await answer(coldRunner, 'warm-up', payload([FIRST], 'conv-a')); // leaves nothing behind with 0
    const cold = await answer(coldRunner, 'c2', payload(turns, 'conv-a'));
    expect(meta(cold, 'cachedTokens')).toBe(0);
    expect(cold.batchTokens).toBe(followUpPrompt + meta(cold, 'generatedTokens') - 1);
    expect(cold.result.text).toBe(followUp.result.text);
    await coldRunner.dispose();

    // A restarted runner has no cache: a miss, the same answer.
    await runner.dispose();
    const restarted = await loadedRunner();
    const again = await answer(restarted, 'a2-again', payload(turns, 'conv-a'));
    expect(restarted.stats().cache).toMatchObject({ hits: 0, misses: 1 });
    expect(again.result.text).toBe(followUp.result.text);
    await restarted.dispose();
  });

  it('evicts the least recently used conversation; an evicted one answers as before, only slower', async () => {
    const runner = await loadedRunner({ parallel: 1, cacheConversations: 1 });
    const a1 = await answer(runner, 'a1', payload([FIRST], 'conv-a'));
    await answer(runner, 'b1', payload([{ role: 'user', content: 'hello there model' }], 'conv-b'));
    const turns: Turn[] = [FIRST, { role: 'assistant', content: a1.result.text ?? '' }, SECOND];
    const a2 = await answer(runner, 'a2', payload(turns, 'conv-a'));
    expect(runner.stats().cache).toMatchObject({ hits: 0, misses: 3, evictions: 2 });
    // Only the system prompt's tokens (and the user header) were shared with conversation b.
    const firstPrompt = runner.preparePrompt(payload([FIRST])).promptTokens;
    expect(meta(a2, 'cachedTokens')).toBeGreaterThan(0);
    expect(meta(a2, 'cachedTokens')).toBeLessThan(firstPrompt - 10);

    const cold = await loadedRunner({ parallel: 1, cacheConversations: 0 });
    expect((await answer(cold, 'c2', payload(turns))).result.text).toBe(a2.result.text);
    await cold.dispose();
    await runner.dispose();
  });

  it('keeps more conversations than running jobs when configured (extra sequences), least recently used out', async () => {
    const runner = await loadedRunner({ parallel: 1, cacheConversations: 2 });
    const q = (c: string): Turn[] => [{ role: 'user', content: `question about the ${c}` }];
    await answer(runner, 'a', payload(q('cat'), 'conv-a'));
    await answer(runner, 'b', payload(q('dog'), 'conv-b'));
    const a1 = await answer(runner, 'a1', payload(q('cat'), 'conv-a')); // the same prompt again: a hit
    expect(runner.stats().cache).toMatchObject({ hits: 1, misses: 2, evictions: 0 });
    expect(meta(a1, 'cachedTokens')).toBe(meta(a1, 'promptTokens') - 1);
    await answer(runner, 'c', payload(q('tree'), 'conv-c')); // evicts b, the least recently used
    await answer(runner, 'a2', payload(q('cat'), 'conv-a'));
    await answer(runner, 'b2', payload(q('dog'), 'conv-b'));
    expect(runner.stats().cache).toMatchObject({ hits: 2, misses: 4 });
    expect(runner.stats().cache.evictions).toBeGreaterThanOrEqual(1);
    await runner.dispose();
  });
});

describe('ChatRunner chunked prompt evaluation', () => {
  const LONG: Turn = { role: 'user', content: Array.from({ length: 24 }, (_, i) => `the cat ${i} and the dog in the house`).join(', ') };

  it('evaluates a long prompt over several steps, each within promptTokensPerStep, with the same answer', async () => {
    const budget = 48;
    // A step target long enough that only the token bound limits the chunks (speed is tested below).
    const runner = await loadedRunner({ promptTokensPerStep: budget, maxStepMs: 60_000 });
    const promptTokens = runner.preparePrompt(payload([LONG])).promptTokens;
    expect(promptTokens).toBeGreaterThan(4 * budget);
    const chunked = await answer(runner, 'long', payload([LONG]));
    // All but the last prompt token in chunks, then the last one with the first answer token.
    expect(chunked.stepsToFirstToken).toBe(Math.ceil((promptTokens - 1) / budget) + 1);
    expect(Math.max(...chunked.stepTokens)).toBeLessThanOrEqual(budget);
    expect(chunked.batchTokens).toBe(promptTokens + meta(chunked, 'generatedTokens') - 1);
    expect(meta(chunked, 'promptChunks')).toBe(Math.ceil((promptTokens - 1) / budget));
    await runner.dispose();

    const whole = await loadedRunner({ promptTokensPerStep: 4096 });
    const unchunked = await answer(whole, 'long', payload([LONG]));
    expect(unchunked.stepsToFirstToken).toBe(1);
    expect(unchunked.stepTokens[0]).toBe(promptTokens);
    expect(unchunked.result.text).toBe(chunked.result.text);
    await whole.dispose();
  });

  it('a long prompt among three chats: every step stays within the bound and the others keep answering', async () => {
    const budget = 48;
    const tokensPerStep = 4;
    const runner = await loadedRunner({ parallel: 4, promptTokensPerStep: budget, maxStepMs: 60_000, tokensPerStep, maxTokens: 24 });
    const others = ['hello there model', 'why is the night dark', 'how are you'].map((q, i) => [`o${i}`, payload([{ role: 'user', content: q }])] as const);
    // Answers alone, on another runner (this one would keep the long prompt's tokens in an idle sequence).
    const soloRunner = await loadedRunner({ parallel: 1, cacheConversations: 0, promptTokensPerStep: 4096, maxTokens: 24 });
    const alone = new Map<string, string>();
    for (const [id, p] of [...others, ['long', payload([LONG])] as const]) alone.set(id, (await answer(soloRunner, `${id}-alone`, p)).result.text ?? '');
    await soloRunner.dispose();

    for (const [id, p] of others) await runner.begin({ id, kind: 'chat', model: 'chat', userId: id, payload: p });
    // The others have started answering when the long prompt arrives. (Their prompts take most of a
    // step's prompt budget each, so they start one or two per step.)
    const started = new Set<string>();
    while (started.size < others.length) {
      const outputs = await runner.step(others.map(([id]) => id), { emit: (id) => started.add(id) });
      expect(outputs.every((o) => o.done === undefined)).toBe(true);
    }
    await runner.begin({ id: 'long', kind: 'chat', model: 'chat', userId: 'paster', payload: payload([LONG]) });
    const texts = new Map<string, string>();
    const ids = [...others.map(([id]) => id), 'long'];
    let active = [...ids];
    const stepTokens: number[] = [];
    const stepBatches: number[] = [];
    const othersProgress: number[] = [];
    while (active.length > 0) {
      const before = runner.stats().tokens;
      const batchesBefore = runner.stats().batches;
      const outputs = await runner.step(active, {
        emit: (id, e) => {
          if (e.type === 'token') texts.set(id, (texts.get(id) ?? '') + e.text);
        },
      });
      stepTokens.push(runner.stats().tokens - before);
      stepBatches.push(runner.stats().batches - batchesBefore);
      othersProgress.push(outputs.filter((o) => o.jobId !== 'long' && (o.share ?? 0) >= 1).length);
      for (const out of outputs)
        if (out.done) {
          expect(out.done.text).toBe(alone.get(out.jobId));
          await runner.end(out.jobId);
          active = active.filter((id) => id !== out.jobId);
        }
    }
    const decodingOthers = (i: number): number => (i < othersProgress.length ? othersProgress[i] ?? 0 : 0);
    for (const [i, tokens] of stepTokens.entries()) expect(tokens).toBeLessThanOrEqual(budget + decodingOthers(i) * tokensPerStep);
    // While the long prompt was evaluated (its first steps), all three others advanced in every step.
    expect(othersProgress.slice(0, 4)).toEqual([3, 3, 3, 3]);
    // …and its chunk went into the same llama.cpp batch as their first token of the step.
    expect(stepBatches.slice(0, 4)).toEqual([tokensPerStep, tokensPerStep, tokensPerStep, tokensPerStep]);
    expect(stepTokens.slice(0, 3)).toEqual([budget + 3 * tokensPerStep, budget + 3 * tokensPerStep, budget + 3 * tokensPerStep]);
    await runner.dispose();
  });

  it('sizes chunks from the measured speed: a slow step shrinks them to the floor, a fast one keeps the bound', async () => {
    const budget = 48;
    // A fake clock (the outer edge): every reading is `ms` later than the one before, so every step lasts `ms`.
    const ticking = (ms: number): (() => number) => {
      let t = 0;
      return () => (t += ms);
    };
    const slow = await loadedRunner({ promptTokensPerStep: budget, maxStepMs: 100 }, ticking(1_000));
    const promptTokens = slow.preparePrompt(payload([LONG])).promptTokens;
    const adapted = await answer(slow, 'long', payload([LONG]));
    await slow.dispose();
    const chunks = meta(adapted, 'promptChunks');
    // The first step knows no speed and takes the bound; 48 tokens in 1 s fits 4.8 in 100 ms, so the
    // next ones fall to the floor (16 tokens).
    expect(adapted.stepTokens[0]).toBe(budget);
    expect(adapted.stepTokens.slice(1, chunks)).toEqual(Array.from({ length: chunks - 1 }, (_, i) => (i < chunks - 2 ? 16 : adapted.stepTokens[chunks - 1])));
    expect(chunks).toBe(1 + Math.ceil((promptTokens - 1 - budget) / 16));

    const fast = await loadedRunner({ promptTokensPerStep: budget, maxStepMs: 100 }, ticking(1));
    const bounded = await answer(fast, 'long', payload([LONG]));
    await fast.dispose();
    expect(meta(bounded, 'promptChunks')).toBe(Math.ceil((promptTokens - 1) / budget));
    expect(bounded.result.text).toBe(adapted.result.text);
  });
});
