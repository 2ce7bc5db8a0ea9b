/**
 * The caption runner on a vision-encoder-decoder whose decoder has a key/value cache shaped as optimum's
 * merged export (past_key_values.* in, present.* out, use_cache_branch), driven by the real
 * transformers.js; and a caption that ends by itself before its token budget.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunnerJob, StepOutput } from '../../src/engine/runner.js';
import type { JobEvent, Json } from '../../src/engine/types.js';
import { CaptionRunner } from '../../src/runners/caption/caption-runner.js';
import { jpegImage, pngImage } from '../fixtures/caption/images.js';
import { seededRandom } from '../fixtures/seeded-random.js';
import { writeTinyVitGpt2, type TinyVitGpt2 } from '../fixtures/tiny-captioner.js';

let root: string;
let ending: TinyVitGpt2;
let open: TinyVitGpt2;
const runners: CaptionRunner[] = [];
let seq = 0;

const END_AFTER = 4; // the start token, three caption tokens, then EOS

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hearth-caption-kv-'));
  ending = await writeTinyVitGpt2(join(root, 'ends-early'), 3, { kvCache: true, endAfter: END_AFTER });
  open = await writeTinyVitGpt2(join(root, 'runs-on'), 3, { kvCache: true });
});

afterAll(async () => {
  for (const r of runners) await r.dispose();
  await rm(root, { recursive: true, force: true });
});

async function runner(dir: string): Promise<CaptionRunner> {
  const settings = { model: 'caption', dir, providers: ['cpu'], maxNewTokens: 8, detailedMaxNewTokens: 24, cacheDir: join(root, 'cache'), threads: 1 } as unknown as Json;
  const r = new CaptionRunner(settings, { log: () => undefined });
  runners.push(r);
  await r.load();
  return r;
}

async function caption(r: CaptionRunner, payload: Record<string, Json>): Promise<{ out: StepOutput; events: JobEvent[] }> {
  const job: RunnerJob = { id: `job-${++seq}`, kind: 'caption', model: 'caption', userId: 'web:1', payload };
  await r.begin(job);
  const events: JobEvent[] = [];
  const [out] = await r.step([job.id], { emit: (_id, e) => events.push(e) });
  await r.end(job.id);
  if (!out) throw new Error('no step output');
  return { out, events };
}

function tensor(dims: number[], data?: Float32Array): ort.Tensor {
  return new ort.Tensor('float32', data ?? new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
}

describe('the cached decoder as an ONNX model', () => {
  it('declares what optimum\'s merged decoder declares', async () => {
    const session = await ort.InferenceSession.create(await readFile(join(ending.dir, 'onnx', 'decoder_model_merged.onnx')));
    expect(session.inputNames).toEqual([
      'input_ids',
      'encoder_hidden_states',
      'past_key_values.0.key',
      'past_key_values.0.value',
      'past_key_values.1.key',
      'past_key_values.1.value',
      'use_cache_branch',
    ]);
    expect(session.outputNames).toEqual(['logits', 'present.0.key', 'present.0.value', 'present.1.key', 'present.1.value']);
    const config = JSON.parse(await readFile(join(ending.dir, 'config.json'), 'utf8')) as { decoder: { n_layer: number; n_head: number } };
    expect(config.decoder).toMatchObject({ n_layer: 2, n_head: 2 });
    await session.release();
  });

  it('gives the same logits decoding token by token through the cache as recomputing the whole prefix, and EOS at its position', async () => {
    const session = await ort.InferenceSession.create(await readFile(join(ending.dir, 'onnx', 'decoder_model_merged.onnx')));
    const rand = seededRandom(11);
    const enc = tensor([1, 16, 16], Float32Array.from({ length: 256 }, () => rand() * 2 - 1));
    const ids = [BigInt(ending.eosTokenId), 104n, 105n, 32n, 99n, 97n];
    const V = ending.vocabSize;
    const emptyPast = Object.fromEntries(
      [0, 1].flatMap((l) => ['key', 'value'].map((p) => [`past_key_values.${l}.${p}`, tensor([1, 2, 0, 8])])),
    );
    const full = await session.run({
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids), [1, ids.length]),
      encoder_hidden_states: enc,
      use_cache_branch: new ort.Tensor('bool', [false], [1]),
      ...emptyPast,
    });
    expect(full['present.1.value']?.dims).toEqual([1, 2, ids.length, 8]);
    const fullLogits = full['logits']?.data as Float32Array;

    let past: Record<string, ort.Tensor> = emptyPast;
    for (let i = 0; i < ids.length; i++) {
      const step = await session.run({
        input_ids: new ort.Tensor('int64', BigInt64Array.from([ids[i] as bigint]), [1, 1]),
        encoder_hidden_states: enc,
        use_cache_branch: new ort.Tensor('bool', [i > 0], [1]),
        ...past,
      });
      expect(step['present.0.key']?.dims).toEqual([1, 2, i + 1, 8]);
      const logits = step['logits']?.data as Float32Array;
      const row = fullLogits.subarray(i * V, (i + 1) * V);
      let maxDiff = 0;
      for (let t = 0; t < V; t++) maxDiff = Math.max(maxDiff, Math.abs((logits[t] as number) - (row[t] as number)));
      expect(maxDiff).toBeLessThan(1e-3);
      const argmax = logits.indexOf(Math.max(...logits));
      expect(argmax === ending.eosTokenId).toBe(i + 1 >= END_AFTER);
      past = Object.fromEntries(Object.entries(step).filter(([k]) => k.startsWith('present.')).map(([k, v]) => [k.replace('present', 'past_key_values'), v]));
    }
    await session.release();
  });
});

describe('CaptionRunner with a cached decoder', () => {
  it('ends a caption by itself before its token budget, streaming what it returns', async () => {
    const r = await runner(ending.dir);
    const img = (await pngImage(48, 40)).toString('base64');
    const { out, events } = await caption(r, { imageBase64: img });
    expect(out.failed).toBeUndefined();
    const done = out.done;
    expect(done).toMatchObject({ stopped: false, stopReason: 'done' });
    // Three caption tokens (one byte each) and EOS: well inside the budget of 8.
    expect(done?.meta?.tokens).toBe(END_AFTER);
    expect((done?.text ?? '').length).toBeGreaterThan(0);
    expect((done?.text ?? '').length).toBeLessThanOrEqual(END_AFTER - 1);
    expect(done?.text).toMatch(/^[a-z ]+$/);
    const streamed = events.filter((e): e is Extract<JobEvent, { type: 'token' }> => e.type === 'token').map((e) => e.text).join('');
    expect(streamed.trim()).toBe(done?.text);
    // A larger budget does not lengthen a caption that has ended.
    const detailed = await caption(r, { imageBase64: img, detail: 'detailed' });
    expect(detailed.out.done).toMatchObject({ text: done?.text, stopReason: 'done', meta: { tokens: END_AFTER } });
  });

  it('without an end, runs the cache to the token budget, deterministically, and the image matters', async () => {
    const r = await runner(open.dir);
    const png = (await pngImage(48, 40)).toString('base64');
    const a = await caption(r, { imageBase64: png });
    const b = await caption(r, { imageBase64: png });
    expect(a.out.done).toMatchObject({ stopped: true, stopReason: 'maxTokens', meta: { tokens: 8 } });
    expect(b.out.done?.text).toBe(a.out.done?.text);
    const long = await caption(r, { imageBase64: png, detail: 'detailed' });
    expect(long.out.done).toMatchObject({ stopReason: 'maxTokens', meta: { tokens: 24 } });
    expect((long.out.done?.text ?? '').startsWith(a.out.done?.text ?? '?')).toBe(true);
    const other = await caption(r, { imageBase64: (await jpegImage(64, 48)).toString('base64') });
    expect(other.out.done?.text).not.toBe(a.out.done?.text);
  });
});
