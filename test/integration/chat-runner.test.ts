import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Llama } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobEvent, JobResult, Json } from '../../src/engine/types.js';
import type { StepOutput } from '../../src/engine/runner.js';
import { ChatRunner, PROMPT_TOKEN_SHARE, type ChatRunnerSettings } from '../../src/runners/llm/chat-runner.js';
import { inspectChatModel } from '../../src/runners/llm/gguf-check.js';
import { estimateChatVram, fitGpuLayers } from '../../src/runners/llm/vram.js';
import { writeTinyGguf } from '../fixtures/tiny-gguf.js';
import { chatSettings, cpuLlama, question, stepUntilDone } from '../helpers/chat-runners.js';
import { expectHearthError } from '../helpers/rejections.js';

let dir: string;
let llama: Llama;
let randomModel: string;
let replyModel: string;

const SYSTEM = 'Be brief.';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hearth-chat-'));
  randomModel = join(dir, 'tiny.gguf');
  replyModel = join(dir, 'reply.gguf');
  await writeTinyGguf(randomModel);
  await writeTinyGguf(replyModel, { reply: 'hi 🙂' });
  llama = await cpuLlama();
});

afterAll(async () => {
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
});

function settings(overrides: Partial<ChatRunnerSettings> = {}): ChatRunnerSettings {
  return chatSettings(randomModel, { parallel: 4, maxTokens: 40, ...overrides });
}

async function loadedRunner(overrides: Partial<ChatRunnerSettings> = {}): Promise<ChatRunner> {
  const runner = new ChatRunner(settings(overrides), { llama });
  await runner.load();
  return runner;
}

function ask(text: string, extra: Record<string, Json> = {}): Json {
  return question(text, extra, SYSTEM);
}

function job(id: string, payload: Json) {
  return { id, kind: 'chat' as const, model: 'chat', userId: 'discord:1', payload };
}

interface Drive {
  texts: Map<string, string>;
  /** Token events per job per step. */
  perStep: Map<string, string[][]>;
  results: Map<string, JobResult>;
  steps: number;
}

/** Steps the given (already begun) jobs together until all are done, then ends them. */
async function driveTogether(runner: ChatRunner, ids: string[]): Promise<Drive> {
  const texts = new Map(ids.map((id) => [id, '']));
  const perStep = new Map<string, string[][]>(ids.map((id) => [id, []]));
  let stepped: readonly string[] = [];
  const { results, steps } = await stepUntilDone(runner, ids, {
    beforeStep: (active) => {
      stepped = [...active];
      for (const id of active) perStep.get(id)?.push([]);
    },
    emit: (id, event) => {
      if (event.type !== 'token') return;
      texts.set(id, (texts.get(id) ?? '') + event.text);
      perStep.get(id)?.at(-1)?.push(event.text);
    },
    afterStep: (outputs) => expect(outputs.map((o) => o.jobId)).toEqual(stepped),
  });
  return { texts, perStep, results, steps };
}

async function answerAlone(runner: ChatRunner, id: string, payload: Json): Promise<JobResult> {
  await runner.begin(job(id, payload));
  const { results } = await driveTogether(runner, [id]);
  return results.get(id) as JobResult;
}

describe('ChatRunner streaming', () => {
  it('streams tokens over several steps and finishes at maxTokens', async () => {
    const runner = await loadedRunner();
    const { steps } = await runner.begin(job('a', ask('hello world')));
    expect(steps).toBe(1 + Math.ceil(40 / 8));
    const drive = await driveTogether(runner, ['a']);
    const result = drive.results.get('a') as JobResult;
    expect(result.stopReason).toBe('maxTokens');
    expect(result.stopped).toBe(true);
    expect(result.text).toBe(drive.texts.get('a'));
    expect((result.text ?? '').length).toBeGreaterThan(10);
    expect(result.meta?.generatedTokens).toBe(40);
    const stepsWithTokens = (drive.perStep.get('a') ?? []).filter((events) => events.length > 0).length;
    expect(stepsWithTokens).toBeGreaterThanOrEqual(5);
    expect(drive.steps).toBeLessThanOrEqual(steps);
    await runner.dispose();
    await runner.dispose();
  });

  it('ends at the model end of turn, with multi-byte text split over steps intact', async () => {
    const runner = await loadedRunner({ path: replyModel, tokensPerStep: 1 });
    await runner.begin(job('r', ask('say hi')));
    const drive = await driveTogether(runner, ['r']);
    const result = drive.results.get('r') as JobResult;
    expect(result).toMatchObject({ text: 'hi 🙂', stopped: false, stopReason: 'endOfTurn' });
    const events = (drive.perStep.get('r') ?? []).flat();
    expect(events.join('')).toBe('hi 🙂');
    expect(events.some((t) => t.includes('\uFFFD'))).toBe(false);
    // The emoji is four byte tokens, one per step: its text arrives once, whole.
    expect(drive.steps).toBeGreaterThanOrEqual(7);
    await runner.dispose();
  });

  it('passes sampling settings through and validates per-job overrides', async () => {
    const runner = await loadedRunner();
    const greedy1 = await answerAlone(runner, 'g1', ask('tell me', { maxTokens: 24 }));
    const greedy2 = await answerAlone(runner, 'g2', ask('tell me', { maxTokens: 24 }));
    expect(greedy2.text).toBe(greedy1.text);
    expect(greedy1.meta?.generatedTokens).toBe(24);
    const hot: JobResult[] = [];
    for (const i of [1, 2, 3]) hot.push(await answerAlone(runner, `h${i}`, ask('tell me', { maxTokens: 24, temperature: 2, topP: 1 })));
    expect(hot.some((r) => r.text !== greedy1.text)).toBe(true);
    await expectHearthError(runner.begin(job('bad1', ask('x', { temperature: 5 }))), 'INVALID_INPUT');
    await expectHearthError(runner.begin(job('bad2', ask('x', { maxTokens: 41 }))), 'INVALID_INPUT');
    await expectHearthError(runner.begin(job('bad3', { messages: [{ role: 'assistant', content: 'no question' }] })), 'INVALID_INPUT');
    await expectHearthError(runner.begin(job('bad4', { messages: 'hello' })), 'INVALID_INPUT');
    const e = await expectHearthError(runner.begin(job('bad5', { messages: [{ role: 'wizard', content: 'x' }] })), 'INVALID_INPUT');
    expect(e.message).toContain('messages[0].role must be one of system, user, assistant');
    await runner.dispose();
  });
});

describe('ChatRunner cancel', () => {
  it('stops promptly when the step signal aborts, leaves the job resumable, and serves a new job after end', async () => {
    const runner = await loadedRunner({ maxTokens: 200, tokensPerStep: 100 });
    await runner.begin(job('c', ask('a long answer please')));
    await runner.step(['c'], { emit: () => undefined }); // prefill
    const controller = new AbortController();
    let seen = 0;
    const [out] = await runner.step(['c'], {
      signal: controller.signal,
      emit: () => {
        seen++;
        if (seen === 5) controller.abort();
      },
    });
    expect(out?.done).toBeUndefined();
    expect(out?.share).toBeGreaterThanOrEqual(5);
    expect(out?.share).toBeLessThan(100);
    // Still resumable: the next step goes on.
    const [next] = await runner.step(['c'], { emit: () => undefined });
    expect(next?.share).toBeGreaterThan(0);
    await runner.end('c');
    const fresh = await answerAlone(runner, 'c2', ask('again', { maxTokens: 16 }));
    expect(fresh.stopReason).toBe('maxTokens');
    expect(fresh.meta?.generatedTokens).toBe(16);
    await runner.dispose();
  });

  it('end() mid-generation stops the job as cancelled, frees its sequence, and a new answer works', async () => {
    const runner = await loadedRunner({ maxTokens: 200, tokensPerStep: 100, parallel: 2 });
    for (let round = 0; round < 3; round++) {
      const id = `e${round}`;
      await runner.begin(job(id, ask('a long answer please')));
      let ending: Promise<void> | undefined;
      let partial = '';
      let steps = 0;
      const emit = (_id: string, event: JobEvent): void => {
        if (event.type === 'token') partial += event.text;
        if (steps > 1 && partial.length >= 5) ending ??= runner.end(id);
      };
      let out: StepOutput | undefined;
      while (!out?.done) {
        steps++;
        [out] = await runner.step([id], { emit });
      }
      await ending;
      expect(out?.done).toMatchObject({ stopped: true, stopReason: 'cancelled' });
      expect(out?.done?.text).toBe(partial);
      expect(out?.share).toBeLessThan(100);
    }
    // No sequence leaked: both sequences serve two jobs at once.
    await runner.begin(job('n1', ask('one', { maxTokens: 8 })));
    await runner.begin(job('n2', ask('two', { maxTokens: 8 })));
    const drive = await driveTogether(runner, ['n1', 'n2']);
    expect(drive.results.get('n1')?.stopReason).toBe('maxTokens');
    expect(drive.results.get('n2')?.stopReason).toBe('maxTokens');
    await runner.dispose();
  });
});

describe('ChatRunner batching', () => {
  it('decodes 4 jobs of one step as one batch, each with the answer it gives alone', async () => {
    const runner = await loadedRunner({ maxTokens: 32 });
    const questions = ['what is a cat', 'why is the night dark', 'hello there model', 'how are you'];
    const alone: string[] = [];
    for (const [i, q] of questions.entries()) alone.push((await answerAlone(runner, `s${i}`, ask(q))).text ?? '');
    expect(new Set(alone).size).toBe(4);

    for (const [i, q] of questions.entries()) await runner.begin(job(`b${i}`, ask(q)));
    const before = runner.stats();
    const drive = await driveTogether(runner, questions.map((_, i) => `b${i}`));
    const after = runner.stats();
    questions.forEach((_, i) => expect(drive.results.get(`b${i}`)?.text).toBe(alone[i]));
    const batches = after.batches - before.batches;
    const items = after.items - before.items;
    expect(items).toBe(4 * 32); // every token of every job decoded once
    expect(batches).toBe(32); // …four at a time
    await runner.dispose();
  });

  it('a job not in the step makes no progress', async () => {
    const runner = await loadedRunner({ maxTokens: 24 });
    await runner.begin(job('x', ask('first')));
    await runner.begin(job('y', ask('second')));
    const events: string[] = [];
    for (let i = 0; i < 3; i++) await runner.step(['x'], { emit: (id) => events.push(id) });
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((id) => id === 'x')).toBe(true);
    // y's first step is still its prompt step: one token plus the prompt's share.
    const { promptTokens } = runner.preparePrompt(ask('second'));
    const [y] = await runner.step(['y'], { emit: () => undefined });
    expect(y?.share).toBeCloseTo(1 + promptTokens * PROMPT_TOKEN_SHARE, 9);
    await runner.dispose();
  });
});

describe('ChatRunner prompt fitting', () => {
  it('drops the oldest turns at the context limit, keeping the system prompt and the newest question', async () => {
    const runner = await loadedRunner({ contextSize: 256, maxTokens: 32 });
    const messages: Json[] = [{ role: 'system', content: SYSTEM }];
    for (let i = 0; i < 12; i++) {
      messages.push({ role: 'user', content: `question number ${i} about the cat and the dog` });
      messages.push({ role: 'assistant', content: `answer number ${i} about the tree and the house` });
    }
    messages.push({ role: 'user', content: 'the newest question' });
    const prepared = runner.preparePrompt({ messages });
    expect(prepared.dropped).toBeGreaterThan(0);
    expect(prepared.dropped % 2).toBe(0); // whole turns
    expect(prepared.messages[0]).toEqual({ role: 'system', content: SYSTEM });
    expect(prepared.messages.at(-1)).toEqual({ role: 'user', content: 'the newest question' });
    expect(prepared.messages[1]?.role).toBe('user');
    expect(prepared.messages.slice(1)).toEqual(messages.slice(1 + prepared.dropped));
    expect(prepared.promptTokens + 32).toBeLessThanOrEqual(runner.contextSize);
    // One more turn would not have fitted.
    const withOneMore = runner.preparePrompt({ messages: [messages[0] as Json, ...messages.slice(prepared.dropped - 1)] });
    expect(withOneMore.dropped).toBeGreaterThan(0);

    await runner.begin(job('t', { messages }));
    const { results } = await driveTogether(runner, ['t']);
    expect(results.get('t')?.meta).toMatchObject({ droppedMessages: prepared.dropped, promptTokens: prepared.promptTokens });
    expect(results.get('t')?.stopReason).toBe('maxTokens');
    await runner.dispose();
  });

  it('rejects a question that does not fit alone with PROMPT_TOO_LONG and the numbers', async () => {
    const runner = await loadedRunner({ contextSize: 256, maxTokens: 32 });
    const long = Array.from({ length: 80 }, (_, i) => `word${i}`).join(' ');
    const error = await expectHearthError(runner.begin(job('long', ask(long))), 'PROMPT_TOO_LONG');
    const { given, allowed } = error.facts as { given: number; allowed: number };
    expect(given).toBeGreaterThan(allowed);
    expect(allowed).toBeGreaterThan(0);
    expect(error.message).toBe(`your message is ${given} tokens; the model takes at most ${allowed}`);
    // The runner is still usable after the rejection.
    await runner.begin(job('ok', ask('short question')));
    await runner.end('ok');
    await runner.dispose();
  });
});

describe('ChatRunner model files', () => {
  it('gives MODEL_MISSING for a missing file', async () => {
    const runner = new ChatRunner(settings({ path: join(dir, 'nope.gguf') }), { llama });
    const error = await expectHearthError(runner.load(), 'MODEL_MISSING');
    expect(error.facts.path).toBe(join(dir, 'nope.gguf'));
    await runner.dispose();
  });

  it('gives MODEL_INVALID for bad files without taking the process down, then loads a good one', async () => {
    const good = await readFile(randomModel);
    const cases: Array<[string, () => Promise<void>, RegExp]> = [
      ['not-gguf.gguf', () => writeFile(join(dir, 'not-gguf.gguf'), Buffer.from('this is not a model file at all, just text')), /magic "GGUF"/],
      ['header-cut.gguf', () => writeFile(join(dir, 'header-cut.gguf'), good.subarray(0, 200)), /truncated: its GGUF header needs \d+ bytes; found 200 bytes/],
      [
        'data-cut.gguf',
        async () => {
          await writeFile(join(dir, 'data-cut.gguf'), good);
          await truncate(join(dir, 'data-cut.gguf'), good.length - 1000);
        },
        /truncated: expected at least \d+ bytes; found \d+ bytes/,
      ],
      ['no-ffn.gguf', () => writeTinyGguf(join(dir, 'no-ffn.gguf'), { omitKeys: ['llama.feed_forward_length'] }).then(() => undefined), /llama\.feed_forward_length/],
      ['no-heads.gguf', () => writeTinyGguf(join(dir, 'no-heads.gguf'), { omitKeys: ['llama.attention.head_count'] }).then(() => undefined), /llama\.attention\.head_count/],
      ['strange-arch.gguf', () => writeTinyGguf(join(dir, 'strange-arch.gguf'), { architecture: 'strangeformer' }).then(() => undefined), /strangeformer/],
    ];
    for (const [name, make, message] of cases) {
      await make();
      const runner = new ChatRunner(settings({ path: join(dir, name) }), { llama });
      const error = await expectHearthError(runner.load(), 'MODEL_INVALID');
      expect(error.message).toMatch(message);
      expect(error.facts.path).toBe(join(dir, name));
      await runner.dispose();
    }
    // Still alive, and the same process serves a good model.
    const runner = await loadedRunner({ maxTokens: 8 });
    const result = await answerAlone(runner, 'after', ask('are you there'));
    expect(result.stopReason).toBe('maxTokens');
    await runner.dispose();
  });

  it('estimates VRAM from the header and fits GPU layers into a budget', async () => {
    const inspection = await inspectChatModel(randomModel, llama);
    expect(inspection.totalLayers).toBeGreaterThanOrEqual(2);
    const shape = { contextSize: 512, sequences: 4 };
    const one = estimateChatVram(inspection.insights, 1, shape);
    const all = estimateChatVram(inspection.insights, inspection.totalLayers, shape);
    expect(one).toBeGreaterThan(0);
    expect(all).toBeGreaterThan(one);
    expect(fitGpuLayers(inspection.insights, 0, shape)).toBe(0);
    expect(fitGpuLayers(inspection.insights, one, shape)).toBe(1);
    expect(fitGpuLayers(inspection.insights, all * 10, shape)).toBe(inspection.totalLayers);
    // On this CPU-only Llama nothing is offloaded, so the model takes no VRAM.
    const runner = new ChatRunner(settings(), { llama });
    expect(await runner.vramBytes()).toBe(0);
    await runner.dispose();
  });
});
