/**
 * The chat runner on GGUF files shaped like real downloads: a byte-level BPE tokenizer with merges,
 * grouped-query attention, Q8_0 weights, and no chat template, each loaded and answered by the real
 * node-llama-cpp on CPU.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GeneralChatWrapper, GgmlType, Llama2ChatWrapper, readGgufFileInfo, resolveChatWrapper, type Llama } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobResult } from '../../src/engine/types.js';
import { ChatRunner } from '../../src/runners/llm/chat-runner.js';
import { inspectChatModel } from '../../src/runners/llm/gguf-check.js';
import { dequantizeQ8_0, f16BitsToF32, f32ToF16Bits, quantizeQ8_0, Q8_0_BLOCK_BYTES } from '../fixtures/gguf/ggml-quant.js';
import { writeTinyGguf, type TinyGgufOptions } from '../fixtures/tiny-gguf.js';
import { chatSettings as settings, cpuLlama, question as ask, stepUntilDone } from '../helpers/chat-runners.js';

let dir: string;
let llama: Llama;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hearth-chat-shapes-'));
  llama = await cpuLlama();
});

afterAll(async () => {
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
});

const REPLY = 'hi 🙂';

async function answer(runner: ChatRunner, questions: Record<string, string>): Promise<Map<string, JobResult>> {
  for (const [id, q] of Object.entries(questions)) await runner.begin({ id, kind: 'chat', model: 'chat', userId: 'web:1', payload: ask(q) });
  return (await stepUntilDone(runner, Object.keys(questions), { maxSteps: 100 })).results;
}

async function write(name: string, options: TinyGgufOptions): Promise<string> {
  const path = join(dir, name);
  await writeTinyGguf(path, options);
  return path;
}

async function readBytes(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, offset);
    return buf;
  } finally {
    await fh.close();
  }
}

describe('Q8_0 as llama.cpp lays it out', () => {
  it('quantizes a block to an f16 scale max|x|/127 and 32 int8, rounding halves away from zero', () => {
    const x = new Float32Array(64);
    for (let i = 0; i < 32; i++) x[i] = (i - 16) / 16; // block 0: max |x| = 1
    x[40] = -0.5; // block 1: max |x| = 0.5, the rest zeros
    const bytes = quantizeQ8_0(x);
    expect(bytes.length).toBe(2 * Q8_0_BLOCK_BYTES);
    expect(bytes.readUInt16LE(0)).toBe(f32ToF16Bits(1 / 127));
    expect(bytes.readInt8(2 + 0)).toBe(-127); // x = -1
    expect(bytes.readInt8(2 + 16)).toBe(0);
    expect(bytes.readInt8(2 + 24)).toBe(64); // 0.5 · 127 = 63.5 → 64
    expect(bytes.readInt8(2 + 8)).toBe(-64); // −63.5 → −64
    expect(bytes.readInt8(Q8_0_BLOCK_BYTES + 2 + 8)).toBe(-127);
    const back = dequantizeQ8_0(bytes);
    for (let i = 0; i < 64; i++) expect(Math.abs((back[i] as number) - (x[i] as number))).toBeLessThanOrEqual(0.5 / 127 + 1e-3);
    // f16 scale bits: normals, a subnormal, round-to-nearest-even.
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001);
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(f16BitsToF32(f32ToF16Bits(1 / 127))).toBeCloseTo(1 / 127, 5);
  });

  it('writes the same weights as the F32 file, block by block, at the offsets the header gives', async () => {
    const f32Path = await write('same-f32.gguf', { seed: 7 });
    const q8Path = await write('same-q8.gguf', { seed: 7, tensorType: 'q8_0' });
    const [f32Info, q8Info] = await Promise.all([f32Path, q8Path].map((p) => readGgufFileInfo(p, { readTensorInfo: true, logWarnings: false })));
    const tensor = (info: typeof f32Info, name: string) => (info?.fullTensorInfo ?? []).find((t) => t.name === name);
    for (const name of ['token_embd.weight', 'blk.1.attn_q.weight', 'blk.0.ffn_down.weight']) {
      const a = tensor(f32Info, name);
      const b = tensor(q8Info, name);
      expect(a?.ggmlType).toBe(GgmlType.F32);
      expect(b?.ggmlType).toBe(GgmlType.Q8_0);
      const n = (b?.dimensions ?? []).reduce<number>((p, d) => p * Number(d), 1);
      const ref = new Float32Array((await readBytes(f32Path, Number(a?.fileOffset), n * 4)).buffer.slice(0));
      const deq = dequantizeQ8_0(await readBytes(q8Path, Number(b?.fileOffset), (n / 32) * Q8_0_BLOCK_BYTES));
      for (let blk = 0; blk < n / 32; blk++) {
        const slice = ref.subarray(blk * 32, blk * 32 + 32);
        const step = Math.max(...slice.map(Math.abs)) / 127;
        for (let i = 0; i < 32; i++) expect(Math.abs((deq[blk * 32 + i] as number) - (slice[i] as number))).toBeLessThanOrEqual(step * 0.57 + 1e-6);
      }
    }
    expect(tensor(q8Info, 'output_norm.weight')?.ggmlType).toBe(GgmlType.F32);
  });
});

interface Variant {
  name: string;
  options: TinyGgufOptions;
  tokenizer: 'llama' | 'gpt2';
  headCountKv: number;
  weights: GgmlType;
}

const VARIANTS: Variant[] = [
  { name: 'BPE tokenizer with merges', options: { tokenizer: 'gpt2' }, tokenizer: 'gpt2', headCountKv: 4, weights: GgmlType.F32 },
  { name: 'grouped-query attention (4 heads, 2 KV heads)', options: { headCountKv: 2 }, tokenizer: 'llama', headCountKv: 2, weights: GgmlType.F32 },
  { name: 'Q8_0 weights', options: { tensorType: 'q8_0' }, tokenizer: 'llama', headCountKv: 4, weights: GgmlType.Q8_0 },
  {
    name: 'BPE + multi-query attention + Q8_0 (a Qwen2.5 Q8_0 download, small)',
    options: { tokenizer: 'gpt2', headCountKv: 1, tensorType: 'q8_0' },
    tokenizer: 'gpt2',
    headCountKv: 1,
    weights: GgmlType.Q8_0,
  },
];

describe.each(VARIANTS)('a GGUF with $name', (variant) => {
  it('passes the GGUF checks with the shape it was written with', async () => {
    const path = await write(`check-${variant.tokenizer}-${variant.headCountKv}-${variant.weights}.gguf`, variant.options);
    const inspection = await inspectChatModel(path, llama);
    const meta = inspection.info.metadata;
    expect(meta.tokenizer.ggml.model).toBe(variant.tokenizer);
    expect(inspection.insights.isSupportedByLlamaCpp).toBe(true);
    const llamaMeta = meta.llama as { attention: { head_count: number; head_count_kv: number } };
    expect(llamaMeta.attention).toMatchObject({ head_count: 4, head_count_kv: variant.headCountKv });
    const types = new Set((inspection.info.fullTensorInfo ?? []).filter((t) => t.dimensions.length === 2).map((t) => t.ggmlType));
    expect([...types]).toEqual([variant.weights]);
    if (variant.tokenizer === 'gpt2') {
      const tok = meta.tokenizer.ggml as { merges?: readonly string[]; pre?: string };
      expect(tok.merges?.length).toBeGreaterThan(50);
      expect(tok.pre).toBe('qwen2');
    }
  });

  it('loads in the chat runner and answers through the real node-llama-cpp, ending its turn', async () => {
    const path = await write(`reply-${variant.tokenizer}-${variant.headCountKv}-${variant.weights}.gguf`, { ...variant.options, reply: REPLY });
    const runner = new ChatRunner(settings(path, { tokensPerStep: 2 }), { llama });
    await runner.load();
    const results = await answer(runner, { r: 'say hi' });
    expect(results.get('r')).toMatchObject({ text: REPLY, stopped: false, stopReason: 'endOfTurn' });
    await runner.dispose();
  });

  it('generates from random weights for two jobs in one batch, as each does alone', async () => {
    const path = await write(`random-${variant.tokenizer}-${variant.headCountKv}-${variant.weights}.gguf`, variant.options);
    const runner = new ChatRunner(settings(path), { llama });
    await runner.load();
    const alone = await answer(runner, { a: 'hello world' });
    const together = await answer(runner, { b: 'hello world', c: 'why is the tree good' });
    for (const r of [alone.get('a'), together.get('b'), together.get('c')]) {
      expect(r).toMatchObject({ stopReason: 'maxTokens' });
      expect(r?.meta?.generatedTokens).toBe(24);
      expect(r?.text ?? '').not.toContain('\uFFFD');
    }
    expect(together.get('b')?.text).toBe(alone.get('a')?.text);
    expect(together.get('c')?.text).not.toBe(alone.get('a')?.text);
    await runner.dispose();
  });
});

describe('a GGUF with no chat template', () => {
  // node-llama-cpp guesses: a `<s>` BOS reads as Llama 2 ("<s>[INST] <<SYS>>"); otherwise a llama
  // architecture gets its GeneralChatWrapper ("### User" / "### Assistant").
  const cases = [
    { tokenizer: 'llama', wrapper: Llama2ChatWrapper, replyAfter: ' ', reply: 'ok🙂' },
    { tokenizer: 'gpt2', wrapper: GeneralChatWrapper, replyAfter: '\n', reply: REPLY },
  ] as const;
  it.each(cases)('($tokenizer tokenizer) gets the wrapper node-llama-cpp falls back to and still answers', async ({ tokenizer, wrapper, replyAfter, reply }) => {
    const path = await write(`no-template-${tokenizer}.gguf`, { tokenizer, noTemplate: true, reply, replyAfter });
    const inspection = await inspectChatModel(path, llama);
    expect(inspection.info.metadata.tokenizer.chat_template).toBeUndefined();
    const model = await llama.loadModel({ modelPath: path });
    try {
      expect(resolveChatWrapper(model)).toBeInstanceOf(wrapper);
    } finally {
      await model.dispose();
    }
    const runner = new ChatRunner(settings(path), { llama });
    try {
      await runner.load();
      const results = await answer(runner, { n: 'say hi' });
      expect(results.get('n')).toMatchObject({ text: reply, stopReason: 'endOfTurn' });
    } finally {
      await runner.dispose();
    }
  });
});
