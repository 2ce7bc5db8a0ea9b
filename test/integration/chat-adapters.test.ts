/**
 * LoRA adapters on the real node-llama-cpp: a tiny adapter GGUF (written by the fixtures in
 * llama.cpp's format) for the tiny model changes its greedy answer; jobs with and without it run in
 * the same steps, each answering as it does alone; adapter contexts are bounded (LRU) and counted in
 * the VRAM estimate; an unknown adapter or a bad adapter file is refused with words that say why.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Llama } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HearthError, type JobResult, type Json } from '../../src/engine/types.js';
import { ChatRunner, type ChatRunnerSettings } from '../../src/runners/llm/chat-runner.js';
import { inspectChatModel } from '../../src/runners/llm/gguf-check.js';
import { estimateAdapterVram, estimateChatVram } from '../../src/runners/llm/vram.js';
import { writeTinyLora } from '../fixtures/gguf/lora.js';
import { writeTinyGguf } from '../fixtures/tiny-gguf.js';
import { chatSettings, cpuLlama, question, runTogether } from '../helpers/chat-runners.js';
import { expectHearthError as rejection } from '../helpers/rejections.js';

let dir: string;
let llama: Llama;
let model: string;
let lora: string;
let lora2: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hearth-chat-adapters-'));
  model = join(dir, 'tiny.gguf');
  lora = join(dir, 'style.gguf');
  lora2 = join(dir, 'other.gguf');
  await writeTinyGguf(model);
  await writeTinyLora(lora);
  await writeTinyLora(lora2, { seed: 99 });
  llama = await cpuLlama();
});

afterAll(async () => {
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
});

function settings(overrides: Partial<ChatRunnerSettings> = {}): ChatRunnerSettings {
  return chatSettings(model, {
    parallel: 4,
    contextSize: 256,
    maxTokens: 10,
    repeatPenalty: 1,
    tokensPerStep: 3,
    adapters: { style: { path: lora, scale: 1 }, other: { path: lora2, scale: 1 } },
    ...overrides,
  });
}

async function loaded(overrides: Partial<ChatRunnerSettings> = {}): Promise<ChatRunner> {
  const runner = new ChatRunner(settings(overrides), { llama });
  await runner.load();
  return runner;
}

function ask(text: string, adapter?: string): Json {
  return question(text, adapter ? { adapter } : {});
}

/** Begins the jobs, steps them together until all are done, ends them; the answers by job id. */
function together(runner: ChatRunner, jobs: ReadonlyArray<readonly [string, Json]>): Promise<Map<string, JobResult>> {
  return runTogether(runner, jobs);
}

async function alone(runner: ChatRunner, id: string, payload: Json): Promise<string> {
  return (await together(runner, [[id, payload]])).get(id)?.text ?? '';
}

describe('ChatRunner LoRA adapters', () => {
  it('the adapter changes the greedy answer; with and without it, side by side, each answers as alone', async () => {
    const runner = await loaded();
    const questions = ['what is a cat', 'why is the night dark'];
    const base: string[] = [];
    const adapted: string[] = [];
    for (const [i, q] of questions.entries()) {
      base.push(await alone(runner, `b${i}`, ask(q)));
      adapted.push(await alone(runner, `a${i}`, ask(q, 'style')));
    }
    for (const i of [0, 1]) {
      expect(base[i]?.length).toBeGreaterThan(0);
      expect(adapted[i]).not.toBe(base[i]);
    }
    expect(runner.stats().adapterContexts).toEqual({ created: 1, evicted: 0 });

    // All four in the same steps: two on the base context, two on the adapter's.
    const mixed = await together(runner, [
      ['m0', ask(questions[0] as string)],
      ['m1', ask(questions[0] as string, 'style')],
      ['m2', ask(questions[1] as string, 'style')],
      ['m3', ask(questions[1] as string)],
    ]);
    expect(mixed.get('m0')?.text).toBe(base[0]);
    expect(mixed.get('m3')?.text).toBe(base[1]);
    expect(mixed.get('m1')?.text).toBe(adapted[0]);
    expect(mixed.get('m2')?.text).toBe(adapted[1]);
    expect(runner.stats().adapterContexts.created).toBe(1);

    // Scale 0 adds nothing: the adapter's context answers as the base model.
    const zero = await loaded({ adapters: { style: { path: lora, scale: 0 } } });
    expect(await alone(zero, 'z', ask(questions[0] as string, 'style'))).toBe(base[0]);
    await zero.dispose();
    await runner.dispose();
  });

  it('keeps at most adapterContexts adapter contexts, evicting the least recently used idle one', async () => {
    const runner = await loaded({ adapterContexts: 1 });
    const style = await alone(runner, 's1', ask('what is a cat', 'style'));
    const other = await alone(runner, 'o1', ask('what is a cat', 'other'));
    expect(other).not.toBe(style);
    expect(runner.stats().adapterContexts).toEqual({ created: 2, evicted: 1 });
    // Back to the first adapter: a new context, the same answer.
    expect(await alone(runner, 's2', ask('what is a cat', 'style'))).toBe(style);
    expect(runner.stats().adapterContexts).toEqual({ created: 3, evicted: 2 });
    // Both adapters at once do not fit one adapter context: the second is refused, naming the key.
    await runner.begin({ id: 'busy', kind: 'chat', model: 'chat', userId: 'u', payload: ask('hello', 'style') });
    const refused = await rejection(runner.begin({ id: 'x', kind: 'chat', model: 'chat', userId: 'u', payload: ask('hello', 'other') }), 'RUNNER_FAILED');
    expect(refused.message).toContain('models.chat.adapterContexts');
    await runner.end('busy');
    await runner.dispose();
  });

  it('counts the adapters in the VRAM estimate: their contexts and their weights', async () => {
    const inspection = await inspectChatModel(model, llama);
    const layers = inspection.totalLayers;
    const shape = { contextSize: 256, sequences: 4 };
    const without = estimateChatVram(inspection.insights, layers, shape);
    const weightBytes = 2 * (await writeTinyLora(join(dir, 'size.gguf')));
    const adapters = { contexts: 2, sequences: 4, weightBytes };
    const withAdapters = estimateChatVram(inspection.insights, layers, { ...shape, adapters });
    const oneContext = estimateChatVram(inspection.insights, layers, { ...shape, sequences: 4 }) - estimateChatVram(inspection.insights, layers, { ...shape, sequences: 0 });
    expect(withAdapters - without).toBe(estimateAdapterVram(inspection.insights, layers, { ...shape, adapters }));
    expect(withAdapters - without).toBeGreaterThanOrEqual(weightBytes + 2 * oneContext - 2);
    // Half the layers offloaded: half the adapter weights on the GPU.
    const half = Math.floor(layers / 2);
    expect(estimateAdapterVram(inspection.insights, half, { ...shape, adapters: { ...adapters, contexts: 0 } })).toBe(Math.ceil((weightBytes * half) / layers));
    expect(estimateAdapterVram(inspection.insights, 0, { ...shape, adapters })).toBe(0);
  });

  it('refuses an unknown adapter, listing the names', async () => {
    const runner = await loaded();
    const error = await rejection(runner.begin({ id: 'u1', kind: 'chat', model: 'chat', userId: 'u', payload: ask('hi', 'pirate') }), 'INVALID_INPUT');
    expect(error.message).toBe('there is no adapter "pirate"; the adapters are style, other');
    expect(error.facts).toMatchObject({ option: 'adapter', given: 'pirate', allowed: ['style', 'other'] });
    // The runner still serves.
    expect((await alone(runner, 'ok', ask('hi', 'other'))).length).toBeGreaterThan(0);
    await runner.dispose();
  });

  it('refuses a bad adapter file at load, naming the key and what was wrong', async () => {
    const notGguf = join(dir, 'not.gguf');
    await writeFile(notGguf, 'this is not a gguf file at all');
    const cases: Array<[string, string, RegExp]> = [
      ['missing', join(dir, 'nowhere.gguf'), /no LoRA adapter file at/],
      ['text', notGguf, /expected a GGUF LoRA adapter/],
      ['model', model, /expected general\.type "adapter".*found null/],
      ['arch', join(dir, 'qwen-lora.gguf'), /for "qwen2" models; the chat model is "llama"/],
    ];
    await writeTinyLora(join(dir, 'qwen-lora.gguf'), { architecture: 'qwen2' });
    for (const [name, path, message] of cases) {
      const runner = new ChatRunner(settings({ adapters: { [name]: { path, scale: 1 } } }), { llama });
      const error = await runner.load().then(
        () => undefined,
        (e: unknown) => e as HearthError,
      );
      expect(error).toBeInstanceOf(HearthError);
      expect(error?.message).toContain(`models.chat.adapters.${name}.path`);
      expect(error?.message).toMatch(message);
      await runner.dispose();
    }
  });
});
