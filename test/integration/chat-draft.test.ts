/**
 * Speculative decoding with a draft model (DraftSequenceTokenPredictor) in the chat runner, on the
 * real node-llama-cpp: the answer is the chat model's whatever the draft, and the runner counts the
 * drafted tokens accepted and rejected.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Llama } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Json } from '../../src/engine/types.js';
import { ChatRunner, type ChatRunnerSettings } from '../../src/runners/llm/chat-runner.js';
import { writeTinyGguf } from '../fixtures/tiny-gguf.js';
import { chatSettings, cpuLlama } from '../helpers/chat-runners.js';

let dir: string;
let llama: Llama;
let model: string;
let otherModel: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hearth-chat-draft-'));
  model = join(dir, 'tiny.gguf');
  otherModel = join(dir, 'tiny-other.gguf');
  await writeTinyGguf(model);
  await writeTinyGguf(otherModel, { seed: 7 });
  llama = await cpuLlama();
});

afterAll(async () => {
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
});

async function answer(overrides: Partial<ChatRunnerSettings>, question: string): Promise<{ text: string; runner: ChatRunner }> {
  const runner = new ChatRunner(chatSettings(model, { contextSize: 256, repeatPenalty: 1, ...overrides }), { llama });
  await runner.load();
  const payload: Json = { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: question }] };
  await runner.begin({ id: 'j', kind: 'chat', model: 'chat', userId: 'u', payload });
  let text = '';
  for (;;) {
    const [out] = await runner.step(['j'], { emit: (_id, e) => (text += e.type === 'token' ? e.text : '') });
    expect(out?.failed).toBeUndefined();
    if (out?.done) {
      expect(out.done.text).toBe(text);
      break;
    }
  }
  await runner.end('j');
  return { text, runner };
}

describe('ChatRunner draft model', () => {
  it('is off by default; with a draft the answer is the same, and accepted and rejected drafts are counted', async () => {
    const plain = await answer({}, 'what is a cat');
    expect(plain.runner.stats().draft).toEqual({ validated: 0, refuted: 0, acceptance: null });
    await plain.runner.dispose();

    // The chat model as its own draft: drafts are checked and some accepted; the answer is the same.
    const same = await answer({ draft: { path: model, minConfidence: 0, maxTokens: 4, minTokens: 4 } }, 'what is a cat');
    expect(same.text).toBe(plain.text);
    const sameStats = same.runner.stats().draft;
    expect(sameStats.validated).toBeGreaterThan(0);
    expect(sameStats.acceptance).toBe(sameStats.validated / (sameStats.validated + sameStats.refuted));
    await same.runner.dispose();

    // Another model (same tokenizer, other weights) as the draft: rejected drafts, the same answer.
    const other = await answer({ draft: { path: otherModel, minConfidence: 0, maxTokens: 4, minTokens: 4 } }, 'what is a cat');
    expect(other.text).toBe(plain.text);
    const otherStats = other.runner.stats().draft;
    expect(otherStats.refuted).toBeGreaterThan(0);
    expect(otherStats.acceptance).toBeLessThan(1);
    await other.runner.dispose();
  });
});
