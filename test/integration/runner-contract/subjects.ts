/**
 * The runners the contract runs on: the simulated runner the engine's tests use, and the four real
 * runners on tiny models written here (as test/integration/{chat,image,caption}-runner.test.ts do).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { getLlama, type Llama } from 'node-llama-cpp';
import type { RunnerJob } from '../../../src/engine/runner.js';
import type { JobKind, Json } from '../../../src/engine/types.js';
import { CaptionRunner } from '../../../src/runners/caption/caption-runner.js';
import { ImageRunner } from '../../../src/runners/image/image-runner.js';
import { EmbedRunner } from '../../../src/runners/embed/embed-runner.js';
import { ChatRunner } from '../../../src/runners/llm/chat-runner.js';
import { pngImage } from '../../fixtures/caption/images.js';
import { SimRunner } from '../../fixtures/sim-runner.js';
import { writeTinyVitGpt2 } from '../../fixtures/tiny-captioner.js';
import { writeTinyEmbedder } from '../../fixtures/tiny-embedder.js';
import { writeTinyGguf } from '../../fixtures/tiny-gguf.js';
import { writeTinySd } from '../../fixtures/tiny-sd.js';
import type { ContractSubject } from './contract.js';

function job(kind: JobKind, model: string, id: string, payload: Json): RunnerJob {
  return { id, kind, model, userId: 'contract:1', payload };
}

/** A temporary folder per subject, removed in its teardown. */
function scratch(prefix: string): { path(): string; make(): Promise<string>; remove(): Promise<void> } {
  let dir: string | undefined;
  return {
    path: () => {
      if (!dir) throw new Error('setup has not run');
      return dir;
    },
    make: async () => (dir = await mkdtemp(join(tmpdir(), prefix))),
    remove: async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The simulated runner, with sleeps that really wait and end early on abort (as in the worker process). */
export function simSubject(): ContractSubject {
  const model = 'sim';
  return {
    name: 'sim runner',
    setup: async () => undefined,
    teardown: async () => undefined,
    create: () => {
      const runner = new SimRunner(
        { model, kind: 'chat', maxBatch: 2, stepMs: 2, loadMs: 30 },
        {
          sleep: async (ms, signal) => {
            if (ms > 0) await delay(ms, undefined, signal ? { signal } : {}).catch(() => undefined);
          },
        },
      );
      return { runner, loads: () => runner.loads };
    },
    job: (id) => job('chat', model, id, { steps: 3 }),
    // Long enough that an abort not honoured shows (the contract allows 1 s), short enough for the resumed step.
    longJob: (id) => job('chat', model, id, { steps: 1000, stepMs: 1500 }),
    stepsBeforeAbort: 0,
  };
}

/** The chat runner on a tiny GGUF, on a one-thread CPU llama.cpp. */
export function chatSubject(): ContractSubject {
  const dir = scratch('hearth-contract-chat-');
  let llama: Llama | undefined;
  const ask = (question: string, maxTokens: number): Json => ({
    messages: [
      // A short system prompt: the default one overflows the tiny context.
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: question },
    ],
    maxTokens,
  });
  return {
    name: 'chat runner',
    setup: async () => {
      await dir.make();
      await writeTinyGguf(join(dir.path(), 'tiny.gguf'));
      llama = await getLlama({ gpu: false, build: 'never', maxThreads: 1 });
    },
    teardown: async () => {
      await llama?.dispose();
      await dir.remove();
    },
    create: () => {
      if (!llama) throw new Error('setup has not run');
      const shared = llama;
      let loads = 0;
      // Counts this runner's model loads without touching the shared Llama (other runners use it too).
      const counting = Object.create(shared) as Llama;
      Object.defineProperty(counting, 'loadModel', {
        value: (...args: Parameters<Llama['loadModel']>) => {
          loads++;
          return shared.loadModel(...args);
        },
      });
      const runner = new ChatRunner(
        {
          model: 'chat',
          path: join(dir.path(), 'tiny.gguf'),
          threads: 1,
          parallel: 2,
          contextSize: 512,
          maxTokens: 200,
          temperature: 0,
          topP: 1,
          repeatPenalty: 1.1,
          gpu: 'cpu',
          gpuLayers: 'auto',
          tokensPerStep: 200,
        },
        { llama: counting },
      );
      return { runner, loads: () => loads };
    },
    job: (id) => job('chat', 'chat', id, ask('hello world', 8)),
    longJob: (id) => job('chat', 'chat', id, ask('a long answer please', 200)),
    stepsBeforeAbort: 1, // the prompt step
  };
}

/** The image runner on a tiny SD-shaped ONNX set, in its worker thread. */
export function imageSubject(): ContractSubject {
  const dir = scratch('hearth-contract-image-');
  let modelDir = '';
  return {
    name: 'image runner',
    setup: async () => {
      await dir.make();
      modelDir = await writeTinySd(join(dir.path(), 'sd'));
    },
    teardown: () => dir.remove(),
    create: () => {
      const lines: string[] = [];
      const runner = new ImageRunner(
        {
          model: 'image',
          dir: modelDir,
          providers: ['cpu'],
          defaults: { width: 32, height: 32, steps: 3, guidance: 7.5, scheduler: 'default', negativePrompt: '' },
          limits: { minSize: 32, maxSize: 256, maxSteps: 60, maxPromptChars: 200 },
          previewEvery: 0,
          threads: 1,
        },
        { logger: { info: (m) => lines.push(m), warn: () => undefined } },
      );
      return { runner, loads: () => lines.filter((l) => l.includes(': loaded ')).length };
    },
    job: (id) => job('image', 'image', id, { prompt: 'a photo of a cat', steps: 3, seed: 1 }),
    longJob: (id) => job('image', 'image', id, { prompt: 'a red house on the hill', steps: 50, seed: 2 }),
    stepsBeforeAbort: 1, // the first also encodes the prompt
    // A tiny UNet step takes well under a millisecond and emits only when it ends: abort it in flight.
    abortAfterMs: 0,
  };
}

/** The caption runner on a tiny vision-encoder-decoder folder, through transformers.js. */
export function captionSubject(): ContractSubject {
  const dir = scratch('hearth-contract-caption-');
  let imageBase64 = '';
  return {
    name: 'caption runner',
    setup: async () => {
      await dir.make();
      await writeTinyVitGpt2(join(dir.path(), 'vit-gpt2'));
      imageBase64 = (await pngImage(48, 40)).toString('base64');
    },
    teardown: () => dir.remove(),
    create: () => {
      let loads = 0;
      const runner = new CaptionRunner(
        {
          model: 'caption',
          dir: join(dir.path(), 'vit-gpt2'),
          providers: ['cpu'],
          maxNewTokens: 8,
          detailedMaxNewTokens: 24,
          cacheDir: join(dir.path(), 'cache'),
          threads: 1,
        },
        {
          log: (level, message) => {
            if (level === 'info' && message.endsWith(' loaded')) loads++;
          },
        },
      );
      return { runner, loads: () => loads };
    },
    job: (id) => job('caption', 'caption', id, { imageBase64 }),
    longJob: (id) => job('caption', 'caption', id, { imageBase64, detail: 'detailed' }),
    stepsBeforeAbort: 0, // a caption is one step
  };
}

/** The embedding runner on a tiny BERT-shaped feature-extraction folder, through transformers.js. */
export function embedSubject(): ContractSubject {
  const dir = scratch('hearth-contract-embed-');
  return {
    name: 'embedding runner',
    setup: async () => {
      await dir.make();
      await writeTinyEmbedder(join(dir.path(), 'bert'));
    },
    teardown: () => dir.remove(),
    create: () => {
      let loads = 0;
      const runner = new EmbedRunner(
        { model: 'embedding', dir: join(dir.path(), 'bert'), providers: ['cpu'], cacheDir: join(dir.path(), 'cache'), threads: 1 },
        { log: (level, message) => void (level === 'info' && message.includes(' loaded ') && loads++) },
      );
      return { runner, loads: () => loads };
    },
    job: (id) => job('embed', 'embedding', id, { texts: ['the wifi password', 'standup moved'] }),
    longJob: (id) => job('embed', 'embedding', id, { texts: Array.from({ length: 64 }, (_, i) => `lunch meeting ${i} ${'pizza '.repeat(100)}`) }),
    stepsBeforeAbort: 0, // a batch is one step
    // The step emits nothing before it ends: aborted as it is called.
    abortAfterMs: 0,
  };
}

export const SUBJECTS: ReadonlyArray<() => ContractSubject> = [simSubject, chatSubject, imageSubject, captionSubject, embedSubject];
