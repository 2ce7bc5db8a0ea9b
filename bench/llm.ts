/**
 * LLM benchmark: tokens/s through hearth's ChatRunner vs node-llama-cpp's LlamaChatSession called
 * directly, and aggregate tokens/s with 1, 2, 4 and 8 concurrent chats stepped as batches vs the
 * same prompts one after another. Runs on CPU with one thread, on a generated llama GGUF with
 * embedding 512 and 8 layers (~110 MB, written to the OS temp folder once), so the model's work
 * dominates. Every figure is a ratio of two runs on the same machine in one go.
 *
 * Also: a follow-up's first-token time with the conversation cache vs the same conversation
 * evaluated cold (about 1,500 tokens of history), and the longest step while one person's
 * 6,000-character prompt is evaluated and three others chat, with and without chunked prompt
 * evaluation; and hearth's batched decode at 2, 4 and 8 chats vs node-llama-cpp's own batching of
 * the same chats as LlamaChatSessions on sequences of one context (multiseq).
 *
 * Also: speculative decoding with a small draft model of the same tokenizer (draft).
 *
 * Run: npx tsx bench/llm.ts            (everything)
 *      npx tsx bench/llm.ts cache chunked   (only the named parts: overhead, batching, multiseq, cache, chunked, draft)
 */
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { getLlama, LlamaChatSession, resolveChatWrapper, type Llama } from 'node-llama-cpp';
import type { Json } from '../src/engine/types.js';
import { MAX_ASK_CHARS } from '../src/jobs/chat.js';
import { ChatRunner, type ChatRunnerSettings } from '../src/runners/llm/chat-runner.js';
import { writeTinyGguf } from '../test/fixtures/tiny-gguf.js';

const SYSTEM = 'Be brief.';
/** Tokens per answer in the overhead comparison. */
const SOLO_TOKENS = 96;
/** Tokens per answer in the batching comparison. */
const BATCH_TOKENS = 48;
const REPEATS = 5;
const BATCH_REPEATS = 3;
/** Pairs in the multi-sequence comparison (its runs are short, and the machine is shared). */
const MULTISEQ_REPEATS = 5;
const CONCURRENCY = [1, 2, 4, 8];
const QUESTIONS = [
  'what is a cat',
  'why is the night dark',
  'hello there model',
  'how are you today',
  'is the tree good',
  'tell me about the house',
  'what is the answer',
  'how light is the day',
];

async function benchModel(): Promise<string> {
  const path = join(tmpdir(), 'hearth-bench-llm-e512-l8-v1.gguf');
  const existing = await stat(path).catch(() => undefined);
  if (!existing || existing.size < 100 * 1024 * 1024) await writeTinyGguf(path, { size: 'bench', seed: 42 });
  return path;
}

function settings(path: string, parallel: number, maxTokens: number): ChatRunnerSettings {
  return {
    model: 'chat',
    path,
    threads: 1,
    parallel,
    contextSize: 512,
    maxTokens,
    temperature: 0,
    topP: 1,
    repeatPenalty: 1.1,
    gpu: 'cpu',
    gpuLayers: 'auto',
    tokensPerStep: 16,
  };
}

function payload(question: string, maxTokens: number): Json {
  return { messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: question }], maxTokens };
}

/** Begins the jobs and steps them together until all are done; returns the tokens produced. */
async function runTogether(runner: ChatRunner, ids: string[], questions: string[], maxTokens: number): Promise<number> {
  for (const [i, id] of ids.entries()) await runner.begin({ id, kind: 'chat', model: 'chat', userId: 'bench', payload: payload(questions[i] ?? '', maxTokens) });
  let tokens = 0;
  let active = [...ids];
  while (active.length > 0) {
    const outputs = await runner.step(active, { emit: () => undefined });
    for (const out of outputs) {
      if (out.failed) throw new Error(`${out.jobId}: ${out.failed.message}`);
      if (out.done) {
        tokens += Number(out.done.meta?.generatedTokens ?? 0);
        await runner.end(out.jobId);
        active = active.filter((id) => id !== out.jobId);
      }
    }
  }
  return tokens;
}

let jobCounter = 0;
const nextId = (): string => `job${++jobCounter}`;

/**
 * Wall seconds, and CPU seconds of the whole process (main thread plus llama.cpp's worker). On a
 * shared machine the wall clock also counts time the process was waiting for a core; CPU time
 * counts the work only, so it is the steadier measure of overhead.
 */
async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number; cpuSeconds: number }> {
  const start = performance.now();
  const cpu = process.cpuUsage();
  const value = await fn();
  const used = process.cpuUsage(cpu);
  return { value, seconds: (performance.now() - start) / 1000, cpuSeconds: (used.user + used.system) / 1e6 };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

async function overhead(llama: Llama, path: string): Promise<string[]> {
  const question = QUESTIONS[0] ?? '';
  const viaRunner: number[] = [];
  const direct: number[] = [];
  const viaRunnerCpu: number[] = [];
  const directCpu: number[] = [];
  // Each path runs alone with its own model and context (two live contexts share the Llama's one
  // thread and slow each other down); the phases alternate so drift on a noisy machine hits both.
  // The first answer after a load pages the weights in, so each phase warms up once.
  for (let i = 0; i < REPEATS; i++) {
    const runner = new ChatRunner(settings(path, 1, SOLO_TOKENS), { llama });
    await runner.load();
    await runTogether(runner, [nextId()], [question], SOLO_TOKENS);
    const a = await timed(() => runTogether(runner, [nextId()], [question], SOLO_TOKENS));
    viaRunner.push(a.value / a.seconds);
    viaRunnerCpu.push(a.value / a.cpuSeconds);
    await runner.dispose();

    const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
    const context = await model.createContext({ contextSize: 512, sequences: 1, threads: 1 });
    // Resolved once, as the runner does: resolving from the GGUF's Jinja template renders it
    // several times, which would otherwise be timed with every session.
    const chatWrapper = resolveChatWrapper(model);
    const directOnce = async (): Promise<number> => {
      const sequence = context.getSequence();
      const session = new LlamaChatSession({ contextSequence: sequence, systemPrompt: SYSTEM, chatWrapper });
      let tokens = 0;
      await session.prompt(question, {
        maxTokens: SOLO_TOKENS,
        temperature: 0,
        repeatPenalty: { penalty: 1.1 },
        onToken: (t) => (tokens += t.length),
      });
      session.dispose();
      await sequence.dispose();
      return tokens;
    };
    await directOnce();
    const b = await timed(directOnce);
    direct.push(b.value / b.seconds);
    directCpu.push(b.value / b.cpuSeconds);
    await context.dispose();
    await model.dispose();
  }
  const r = median(viaRunner);
  const d = median(direct);
  const rc = median(viaRunnerCpu);
  const dc = median(directCpu);
  return [
    `| path | tokens per wall second (median of ${REPEATS}) | tokens per CPU second (median of ${REPEATS}) |`,
    '| --- | --- | --- |',
    `| node-llama-cpp LlamaChatSession, direct | ${d.toFixed(1)} | ${dc.toFixed(1)} |`,
    `| hearth ChatRunner (1 job, 16 tokens per step) | ${r.toFixed(1)} | ${rc.toFixed(1)} |`,
    `| **ratio hearth / direct** | **${(r / d).toFixed(3)}** | **${(rc / dc).toFixed(3)}** |`,
  ];
}

async function batching(llama: Llama, path: string): Promise<string[]> {
  const runner = new ChatRunner(settings(path, 8, BATCH_TOKENS), { llama });
  await runner.load();
  await runTogether(runner, [nextId()], [QUESTIONS[0] ?? ''], 4); // warm-up
  const rows = [
    '| concurrent chats | one after another (tokens/s) | stepped together (tokens/s) | speed-up (wall) | speed-up (CPU time) | sequences per decode |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const k of CONCURRENCY) {
    const questions = QUESTIONS.slice(0, k);
    const seqRates: number[] = [];
    const batchRates: number[] = [];
    const cpuSpeedups: number[] = [];
    let occupancy = 0;
    // Median of BATCH_REPEATS pairs, alternating which goes first.
    for (let rep = 0; rep < BATCH_REPEATS; rep++) {
      const runSequential = () =>
        timed(async () => {
          let tokens = 0;
          for (const q of questions) tokens += await runTogether(runner, [nextId()], [q], BATCH_TOKENS);
          return tokens;
        });
      const runBatched = async () => {
        const before = runner.stats();
        const result = await timed(() => runTogether(runner, questions.map(() => nextId()), questions, BATCH_TOKENS));
        const after = runner.stats();
        occupancy = (after.items - before.items) / Math.max(1, after.batches - before.batches);
        return result;
      };
      const first = rep % 2 === 0 ? await runSequential() : await runBatched();
      const second = rep % 2 === 0 ? await runBatched() : await runSequential();
      const [sequential, together] = rep % 2 === 0 ? [first, second] : [second, first];
      seqRates.push(sequential.value / sequential.seconds);
      batchRates.push(together.value / together.seconds);
      cpuSpeedups.push(sequential.cpuSeconds / together.cpuSeconds);
    }
    const seqRate = median(seqRates);
    const batchRate = median(batchRates);
    rows.push(
      `| ${k} | ${seqRate.toFixed(1)} | ${batchRate.toFixed(1)} | ${(batchRate / seqRate).toFixed(2)}× | ${median(cpuSpeedups).toFixed(2)}× | ${occupancy.toFixed(2)} |`,
    );
  }
  await runner.dispose();
  return rows;
}

/**
 * hearth's batched decode vs node-llama-cpp's own multi-sequence batching of the same chats: k
 * LlamaChatSessions, each on a sequence of one context, prompted at once (node-llama-cpp then
 * batches their decodes itself). Same model file, prompts, answer length and sampling.
 */
async function multiSequence(llama: Llama, path: string): Promise<string[]> {
  const ks = CONCURRENCY.filter((k) => k > 1);
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  const chatWrapper = resolveChatWrapper(model);
  const rows = [
    '| concurrent chats | node-llama-cpp, k sessions on one context (tokens/s) | hearth ChatRunner stepped together (tokens/s) | ratio hearth / node-llama-cpp (wall) | ratio (CPU time) |',
    '| --- | --- | --- | --- | --- |',
  ];
  try {
    for (const k of ks) {
      const questions = QUESTIONS.slice(0, k);
      // Both sides get k sequences of 512 tokens. No conversation cache: an idle sequence would
      // otherwise keep the last run's prompt, and hearth would evaluate less than the fresh sessions do.
      const runner = new ChatRunner({ ...settings(path, k, BATCH_TOKENS), cacheConversations: 0 }, { llama });
      await runner.load();
      const context = await model.createContext({ contextSize: 512, sequences: k, threads: 1 });
      const direct = () =>
        timed(async () => {
          const counts = await Promise.all(
            questions.map(async (question) => {
              const sequence = context.getSequence();
              const session = new LlamaChatSession({ contextSequence: sequence, systemPrompt: SYSTEM, chatWrapper });
              let tokens = 0;
              await session.prompt(question, { maxTokens: BATCH_TOKENS, temperature: 0, repeatPenalty: { penalty: 1.1 }, onToken: (t) => (tokens += t.length) });
              session.dispose();
              await sequence.dispose();
              return tokens;
            }),
          );
          return counts.reduce((a, b) => a + b, 0);
        });
      const hearth = () => timed(() => runTogether(runner, questions.map(() => nextId()), questions, BATCH_TOKENS));
      await direct(); // warm-ups of the new contexts
      await hearth();
      const ratios: number[] = [];
      const cpuRatios: number[] = [];
      const directRates: number[] = [];
      const hearthRates: number[] = [];
      // Median of BATCH_REPEATS pairs, alternating which goes first.
      for (let rep = 0; rep < MULTISEQ_REPEATS; rep++) {
        const first = rep % 2 === 0 ? await direct() : await hearth();
        const second = rep % 2 === 0 ? await hearth() : await direct();
        const [d, h] = rep % 2 === 0 ? [first, second] : [second, first];
        directRates.push(d.value / d.seconds);
        hearthRates.push(h.value / h.seconds);
        ratios.push(h.value / h.seconds / (d.value / d.seconds));
        cpuRatios.push(h.value / h.cpuSeconds / (d.value / d.cpuSeconds));
      }
      await context.dispose();
      await runner.dispose();
      rows.push(
        `| ${k} | ${median(directRates).toFixed(1)} | ${median(hearthRates).toFixed(1)} | **${median(ratios).toFixed(3)}×** | ${median(cpuRatios).toFixed(3)}× |`,
      );
    }
  } finally {
    await model.dispose();
  }
  return rows;
}

const WORDS = ['the', 'cat', 'and', 'dog', 'is', 'in', 'a', 'house', 'of', 'light', 'tree', 'night', 'day', 'good', 'answer', 'model'];
/** Text of about `chars` characters made of the model's words (deterministic). */
function wordsText(chars: number, seed: number): string {
  const out: string[] = [];
  let length = 0;
  for (let i = 0; length < chars; i++) {
    const word = WORDS[(i * 7 + seed * 3 + ((i * i) % 5)) % WORDS.length] ?? 'the';
    out.push(word);
    length += word.length + 1;
  }
  return out.join(' ').slice(0, chars);
}

type Turn = { role: 'system' | 'user' | 'assistant'; content: string };

/** Steps one begun job until its first token; returns the seconds from `begin` on, then finishes it untimed. */
async function firstTokenSeconds(runner: ChatRunner, id: string, p: Json): Promise<number> {
  const start = performance.now();
  await runner.begin({ id, kind: 'chat', model: 'chat', userId: 'bench', payload: p });
  let first: number | undefined;
  for (;;) {
    const [out] = await runner.step([id], {
      emit: () => {
        first ??= performance.now();
      },
    });
    if (out?.failed) throw new Error(`${id}: ${out.failed.message}`);
    if (out?.done) break;
  }
  await runner.end(id);
  if (first === undefined) throw new Error(`${id} produced no token`);
  return (first - start) / 1000;
}

const HISTORY_TOKENS = 1500;
const CACHE_REPEATS = 3;

async function conversationCache(llama: Llama, path: string): Promise<string[]> {
  const base = { ...settings(path, 2, 16), contextSize: 2048 };
  const cached = new ChatRunner(base, { llama });
  const cold = new ChatRunner({ ...base, cacheConversations: 0 }, { llama });
  await cached.load();
  await cold.load();
  // A conversation of about HISTORY_TOKENS tokens before the follow-up.
  const history: Turn[] = [{ role: 'system', content: SYSTEM }];
  for (let i = 0; cached.preparePrompt({ messages: [...history, { role: 'user', content: 'x' }] }).promptTokens < HISTORY_TOKENS; i++) {
    history.push({ role: 'user', content: wordsText(300, i) }, { role: 'assistant', content: wordsText(300, i + 100) });
  }
  const warm: number[] = [];
  const coldSeconds: number[] = [];
  let historyTokens = 0;
  let followUpTokens = 0;
  let cachedTokens = 0;
  for (let rep = 0; rep < CACHE_REPEATS; rep++) {
    const conversation = `bench-conv-${rep}`;
    const turn = [...history, { role: 'user' as const, content: `question ${rep} about the cat` }];
    historyTokens = cached.preparePrompt({ messages: turn }).promptTokens;
    // The turn before: its answer ends in the cache.
    let answer = '';
    const firstId = nextId();
    await cached.begin({ id: firstId, kind: 'chat', model: 'chat', userId: 'bench', payload: { messages: turn, conversationId: conversation } });
    for (let done = false; !done; ) {
      const [out] = await cached.step([firstId], { emit: (_id, e) => (answer += e.type === 'token' ? e.text : '') });
      done = out?.done !== undefined;
    }
    await cached.end(firstId);
    const followUp = { messages: [...turn, { role: 'assistant', content: answer }, { role: 'user', content: 'and the dog' }], conversationId: conversation };
    followUpTokens = cached.preparePrompt(followUp).promptTokens;
    // Alternate which goes first, so drift on a noisy machine hits both.
    const runCold = () => firstTokenSeconds(cold, nextId(), followUp);
    const runWarm = async () => {
      const before = cached.stats().cache.reusedTokens;
      const seconds = await firstTokenSeconds(cached, nextId(), followUp);
      cachedTokens = cached.stats().cache.reusedTokens - before;
      return seconds;
    };
    if (rep % 2 === 0) {
      coldSeconds.push(await runCold());
      warm.push(await runWarm());
    } else {
      warm.push(await runWarm());
      coldSeconds.push(await runCold());
    }
  }
  const stats = cached.stats().cache;
  await cached.dispose();
  await cold.dispose();
  const w = median(warm);
  const c = median(coldSeconds);
  return [
    `History before the follow-up: ${historyTokens} prompt tokens; follow-up prompt ${followUpTokens} tokens, ${cachedTokens} of them found in the cache.`,
    '',
    `| follow-up | first token (s, median of ${CACHE_REPEATS}) |`,
    '| --- | --- |',
    `| cold (cacheConversations: 0) | ${c.toFixed(3)} |`,
    `| conversation cache hit | ${w.toFixed(3)} |`,
    `| **ratio cached / cold** (target ≤ 0.25) | **${(w / c).toFixed(3)}** |`,
    '',
    `Cache counters: ${stats.hits} hits, ${stats.misses} misses, ${stats.evictions} evictions.`,
  ];
}

const CHAT_TOKENS_PER_STEP = 16;

/** Step durations while a 6,000-character prompt arrives among three chats already answering. */
/** Answer length of the three other chats: long enough that they answer all through the long prompt, however small its chunks. */
const OTHERS_TOKENS = 2400;

async function longPromptSteps(
  llama: Llama,
  path: string,
  promptTokensPerStep: number,
  maxStepMs = 60_000,
): Promise<{ steps: number[]; promptTokens: number; decodeMedian: number; chunks: number }> {
  const runner = new ChatRunner(
    { ...settings(path, 4, OTHERS_TOKENS), contextSize: 4096, tokensPerStep: CHAT_TOKENS_PER_STEP, promptTokensPerStep, maxStepMs, cacheConversations: 0 },
    { llama },
  );
  await runner.load();
  const others = [0, 1, 2].map((i) => `other${i}-${promptTokensPerStep}-${maxStepMs}`);
  for (const [i, id] of others.entries()) await runner.begin({ id, kind: 'chat', model: 'chat', userId: id, payload: payload(QUESTIONS[i] ?? '', OTHERS_TOKENS) });
  // Until every other chat answers, then a few plain decode steps to time.
  const decode: number[] = [];
  for (let i = 0; i < 8; i++) {
    const t = performance.now();
    await runner.step(others, { emit: () => undefined });
    if (i >= 4) decode.push((performance.now() - t) / 1000);
  }
  const long = { messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: wordsText(MAX_ASK_CHARS, 7) }], maxTokens: 8 };
  const promptTokens = runner.preparePrompt(long).promptTokens;
  const longId = `long-${promptTokensPerStep}-${maxStepMs}`;
  await runner.begin({ id: longId, kind: 'chat', model: 'chat', userId: 'paster', payload: long });
  const steps: number[] = [];
  let first = false;
  while (!first) {
    const t = performance.now();
    const outputs = await runner.step([...others, longId], {
      emit: (id) => {
        if (id === longId) first = true;
      },
    });
    steps.push((performance.now() - t) / 1000);
    if (outputs.some((o) => o.failed || o.done)) throw new Error('a chat ended during the long prompt; raise OTHERS_TOKENS');
  }
  let chunks = 0;
  for (;;) {
    const outputs = await runner.step([longId], { emit: () => undefined });
    const done = outputs.find((o) => o.done)?.done;
    if (done) {
      chunks = Number(done.meta?.promptChunks ?? 0);
      break;
    }
  }
  await runner.dispose();
  return { steps, promptTokens, decodeMedian: median(decode), chunks };
}

async function chunkedPrompt(llama: Llama, path: string): Promise<string[]> {
  const chunked = await longPromptSteps(llama, path, 512);
  const whole = await longPromptSteps(llama, path, 8192);
  // The step target: twice this machine's plain decode step (three chats, 16 tokens each), so the
  // figure says how close the measured-speed budget keeps steps to a target on a loaded machine.
  const target = Math.round(2 * chunked.decodeMedian * 1000);
  const adaptive = await longPromptSteps(llama, path, 512, target);
  const row = (name: string, r: typeof chunked): string =>
    `| ${name} | ${r.steps.length} | ${r.chunks} | ${Math.max(...r.steps).toFixed(3)} | ${r.decodeMedian.toFixed(3)} | ${(Math.max(...r.steps) / r.decodeMedian).toFixed(2)}× |`;
  const sorted = [...adaptive.steps].sort((a, b) => a - b);
  const p90 = sorted[Math.min(sorted.length - 1, Math.floor(0.9 * sorted.length))] ?? 0;
  return [
    `A ${MAX_ASK_CHARS}-character prompt (${chunked.promptTokens} tokens) arrives while three chats answer (${CHAT_TOKENS_PER_STEP} tokens per step each); steps until its first token.`,
    '',
    '| prompt evaluation | steps to its first token | prompt chunks | longest step (s) | plain decode step (s, median) | longest / decode step |',
    '| --- | --- | --- | --- | --- | --- |',
    row('chunked, promptTokensPerStep 512 (no time target)', chunked),
    row(`chunked from measured speed, maxStepMs ${target} (2× decode step), bound 512`, adaptive),
    row('whole prompt in one step (8192)', whole),
    '',
    `With maxStepMs ${target}: longest step / target ${(Math.max(...adaptive.steps) * 1000 / target).toFixed(2)}, ` +
      `90th percentile step / target ${((p90 * 1000) / target).toFixed(2)} (the first chunk, before any speed is measured, takes the bound).`,
  ];
}

/** The answer of the draft bench's models: a bigram chain, each token once (see writeTinyGguf's `reply`). */
const DRAFT_REPLY = 'abcdefghijklmnopqrstuvwxyz0123456789';
const DRAFT_REPEATS = 5;

/** Tokens per wall second of one answer through a runner (parallel 1, no cache), and the text. */
async function timedAnswer(runner: ChatRunner, id: string): Promise<{ seconds: number; tokens: number; text: string }> {
  const t = performance.now();
  await runner.begin({ id, kind: 'chat', model: 'chat', userId: 'bench', payload: payload('what is a cat', 64) });
  for (;;) {
    const [out] = await runner.step([id], { emit: () => undefined });
    if (out?.failed) throw new Error(out.failed.message);
    if (out?.done) {
      const seconds = (performance.now() - t) / 1000;
      await runner.end(id);
      return { seconds, tokens: Number(out.done.meta?.generatedTokens ?? 0), text: out.done.text ?? '' };
    }
  }
}

/**
 * Speculative decoding: the bench-size model answering alone vs with a small draft model (embedding
 * 64, 2 layers) of the same tokenizer. Both are generated bigram models answering the same text, so
 * the draft agrees by construction (a best case for acceptance); a small random draft shows a bad one.
 */
async function draftDecoding(llama: Llama): Promise<string[]> {
  const dir = tmpdir();
  const target = join(dir, 'hearth-bench-draft-target-v1.gguf');
  const agreeing = join(dir, 'hearth-bench-draft-small-v1.gguf');
  const random = join(dir, 'hearth-bench-draft-random-v1.gguf');
  if (!(await stat(target).catch(() => undefined))) await writeTinyGguf(target, { size: 'bench', seed: 42, reply: DRAFT_REPLY });
  if (!(await stat(agreeing).catch(() => undefined))) await writeTinyGguf(agreeing, { size: 'small', seed: 5, reply: DRAFT_REPLY });
  if (!(await stat(random).catch(() => undefined))) await writeTinyGguf(random, { size: 'small', seed: 7 });
  const base = { ...settings(target, 1, 64), tokensPerStep: 16, cacheConversations: 0 };
  const configs: Array<[string, ChatRunnerSettings]> = [
    ['no draft', base],
    // The defaults (minTokens 0: use whatever the draft has ready when the chat model decodes).
    ['agreeing small draft, defaults (max 16, min 0, confidence 0.6)', { ...base, draft: { path: agreeing, maxTokens: 16, minTokens: 0, minConfidence: 0.6 } }],
    // minTokens = maxTokens: the chat model waits for 4 drafted tokens before each check.
    ['agreeing small draft (max 4, min 4, confidence 0)', { ...base, draft: { path: agreeing, maxTokens: 4, minTokens: 4, minConfidence: 0 } }],
    ['random small draft (max 4, min 4, confidence 0)', { ...base, draft: { path: random, maxTokens: 4, minTokens: 4, minConfidence: 0 } }],
  ];
  const runners = await Promise.all(configs.map(async ([, s]) => {
    const r = new ChatRunner(s, { llama });
    await r.load();
    await timedAnswer(r, nextId()); // warm-up
    return r;
  }));
  const rates: number[][] = configs.map(() => []);
  const texts = new Set<string>();
  for (let rep = 0; rep < DRAFT_REPEATS; rep++) {
    // Rotate the order, so drift on a noisy machine hits all.
    for (let k = 0; k < runners.length; k++) {
      const i = (k + rep) % runners.length;
      const r = await timedAnswer(runners[i] as ChatRunner, nextId());
      rates[i]?.push(r.tokens / r.seconds);
      texts.add(r.text);
    }
  }
  const plain = median(rates[0] ?? []);
  const rows = configs.map(([name], i) => {
    const d = runners[i]?.stats().draft;
    const acc = d && d.acceptance !== null ? `${(100 * d.acceptance).toFixed(1)}% (${d.validated} of ${d.validated + d.refuted})` : '—';
    const rate = median(rates[i] ?? []);
    return `| ${name} | ${rate.toFixed(1)} | ${(rate / plain).toFixed(2)}× | ${acc} |`;
  });
  await Promise.all(runners.map((r) => r.dispose()));
  return [
    `Target: the bench-size model; answers of ${DRAFT_REPLY.length} tokens${texts.size === 1 ? ', the same text in every run' : `; ${texts.size} different texts (the draft changed an answer!)`}.`,
    '',
    `| decoding | tokens/s (median of ${DRAFT_REPEATS}) | speed-up | drafted tokens accepted |`,
    '| --- | --- | --- | --- |',
    ...rows,
  ];
}

const PARTS = ['overhead', 'batching', 'multiseq', 'cache', 'chunked', 'draft'] as const;
type Part = (typeof PARTS)[number];

/** Runs the LLM benchmark (all parts, or the named ones) and returns its figures as markdown. */
export async function runLlmBench(parts: readonly Part[] = PARTS): Promise<string> {
  const path = await benchModel();
  const llama = await getLlama({ gpu: false, build: 'never', maxThreads: 1 });
  try {
    const started = performance.now();
    const out = [
      `Model: generated llama GGUF, F32, embedding 512, 8 layers, FFN 1536 (~110 MB); CPU, 1 thread; temperature 0; context 512 per sequence unless said.`,
    ];
    if (parts.includes('overhead')) out.push('', `### Engine overhead (${SOLO_TOKENS} tokens, same prompt)`, '', ...(await overhead(llama, path)));
    if (parts.includes('batching'))
      out.push('', `### Batching (${BATCH_TOKENS} tokens per chat; runner with 8 sequences; median of ${BATCH_REPEATS})`, '', ...(await batching(llama, path)));
    if (parts.includes('multiseq'))
      out.push('', `### Batching vs node-llama-cpp's own multi-sequence batching (${BATCH_TOKENS} tokens per chat; k sequences each; median of ${MULTISEQ_REPEATS})`, '', ...(await multiSequence(llama, path)));
    if (parts.includes('cache')) out.push('', '### Conversation cache: follow-up first token (context 2048)', '', ...(await conversationCache(llama, path)));
    if (parts.includes('chunked')) out.push('', '### Chunked prompt evaluation: longest step (context 4096)', '', ...(await chunkedPrompt(llama, path)));
    if (parts.includes('draft')) out.push('', '### Speculative decoding with a draft model', '', ...(await draftDecoding(llama)));
    out.push('', `Bench time: ${((performance.now() - started) / 1000).toFixed(0)} s.`);
    return out.join('\n');
  } finally {
    await llama.dispose();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const asked = process.argv.slice(2);
  const unknown = asked.filter((a) => !(PARTS as readonly string[]).includes(a));
  if (unknown.length > 0) throw new Error(`unknown part(s) ${unknown.join(', ')}; parts: ${PARTS.join(', ')}`);
  runLlmBench(asked.length > 0 ? (asked as Part[]) : PARTS).then(
    (md) => console.log(md),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
