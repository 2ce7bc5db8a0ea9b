/**
 * README, GPU: "`models.chat.gpu: auto` picks the GPU when there is one, else the CPU", and "their
 * fallbacks and messages are tested".
 *
 * The choice is made where llama.cpp is started (src/runners/llm/llama-instance.ts: `auto` is handed to
 * node-llama-cpp, which tries its CUDA and Vulkan builds and falls back to the CPU one) and carried into
 * the chat runner (src/runners/llm/chat-runner.ts: no GPU means no layers offloaded and no VRAM
 * claimed, so residency never swaps the chat model out for VRAM it does not use). On this machine
 * there is no GPU; where the machine has one, the same tests expect it to be picked.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepOutput } from '../../src/engine/runner.js';
import { HearthError } from '../../src/engine/types.js';
import { ChatRunner, type ChatRunnerSettings } from '../../src/runners/llm/chat-runner.js';
import { createLlama } from '../../src/runners/llm/llama-instance.js';
import { writeTinyGguf } from '../fixtures/tiny-gguf.js';

/** A GPU llama.cpp could use: an NVIDIA device node (CUDA) or a DRM render node (Vulkan). */
const GPU_PRESENT = existsSync('/dev/nvidia0') || existsSync('/dev/dri/renderD128');

let dir: string;
let model: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hearth-gpu-auto-'));
  model = join(dir, 'tiny.gguf');
  await writeTinyGguf(model, { reply: 'cpu ok' });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function settings(gpu: ChatRunnerSettings['gpu']): ChatRunnerSettings {
  return {
    model: 'chat',
    path: model,
    threads: 1,
    parallel: 1,
    contextSize: 256,
    maxTokens: 8,
    temperature: 0,
    topP: 1,
    repeatPenalty: 1.1,
    gpu,
    gpuLayers: 'auto',
    tokensPerStep: 8,
  };
}

describe('models.chat.gpu: auto', () => {
  it(`picks ${GPU_PRESENT ? 'the GPU (there is one)' : 'the CPU (there is no GPU)'}`, async () => {
    const auto = await createLlama({ gpu: 'auto', threads: 1 });
    try {
      if (GPU_PRESENT) expect(auto.gpu).not.toBe(false);
      else expect(auto.gpu).toBe(false);
    } finally {
      await auto.dispose();
    }
  });

  it('the chat runner on auto offloads nothing and claims no VRAM without a GPU, and answers', async () => {
    const runner = new ChatRunner(settings('auto'));
    try {
      const vram = await runner.vramBytes();
      if (GPU_PRESENT) expect(vram).toBeGreaterThan(0);
      else expect(vram).toBe(0);
      await runner.load();
      const payload = { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'where do you run?' }] };
      await runner.begin({ id: 'j1', kind: 'chat', model: 'chat', userId: 'u', payload });
      let out: StepOutput[] = [];
      for (let i = 0; i < 20 && !out.some((o) => o.done); i++) out = await runner.step(['j1'], { emit: () => {} });
      expect(out.find((o) => o.jobId === 'j1')?.done?.text).toContain('cpu ok');
    } finally {
      await runner.dispose();
    }
  });

  const CUDA_PRESENT = existsSync('/dev/nvidia0');
  it(`asked for CUDA ${CUDA_PRESENT ? 'where there is a card, it uses it' : 'where there is none, it fails in words naming the backend instead of falling back quietly'}`, async () => {
    const error = await createLlama({ gpu: 'cuda', threads: 1 }).then(
      async (l) => {
        const gpu = l.gpu;
        await l.dispose();
        return gpu;
      },
      (e: unknown) => e,
    );
    if (CUDA_PRESENT) return expect(error).toBe('cuda');
    expect(error).toBeInstanceOf(HearthError);
    expect(error).toMatchObject({ code: 'RUNNER_FAILED', facts: { gpu: 'cuda' } });
    expect((error as HearthError).message).toContain('could not start llama.cpp with gpu "cuda"');
  });
});
