import { mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunnerJob, StepOutput } from '../../src/engine/runner.js';
import { HearthError, type JobEvent, type Json } from '../../src/engine/types.js';
import { CaptionRunner, type CaptionLog } from '../../src/runners/caption/caption-runner.js';
import type { CaptionSettings } from '../../src/runners/caption/settings.js';
import { bombPng, jpegImage, pngImage, textFile, truncatedPng } from '../fixtures/caption/images.js';
import { writeTinySmolVlm, writeTinyVitGpt2 } from '../fixtures/tiny-captioner.js';

let root: string;
let vitDir: string;
let smolDir: string;
let vit: CaptionRunner;
let smol: CaptionRunner;
let png: Buffer;
let jpeg: Buffer;
let seq = 0;

const quiet: CaptionLog = () => undefined;

function settings(dir: string, extra: Partial<CaptionSettings> = {}): Json {
  return { model: 'caption', dir, providers: ['cpu'], maxNewTokens: 8, detailedMaxNewTokens: 24, cacheDir: join(root, 'cache'), threads: 1, ...extra } as unknown as Json;
}

function job(payload: Record<string, Json>): RunnerJob {
  seq += 1;
  return { id: `job-${seq}`, kind: 'caption', model: 'caption', userId: 'discord:1', payload };
}

async function runJob(
  runner: CaptionRunner,
  payload: Record<string, Json>,
  signal?: AbortSignal,
): Promise<{ out: StepOutput; events: JobEvent[]; steps: number }> {
  const j = job(payload);
  const { steps } = await runner.begin(j);
  const events: JobEvent[] = [];
  const [out] = await runner.step([j.id], { emit: (_id, e) => events.push(e), ...(signal ? { signal } : {}) });
  await runner.end(j.id);
  if (!out) throw new Error('no step output');
  return { out, events, steps };
}

async function beginError(runner: CaptionRunner, payload: Record<string, Json>): Promise<HearthError> {
  try {
    await runner.begin(job(payload));
  } catch (e) {
    if (e instanceof HearthError) return e;
    throw e;
  }
  throw new Error('begin did not fail');
}

async function loadError(runner: CaptionRunner): Promise<HearthError> {
  try {
    await runner.load();
  } catch (e) {
    if (e instanceof HearthError) return e;
    throw e;
  } finally {
    await runner.dispose();
  }
  throw new Error('load did not fail');
}

const b64 = (b: Buffer): string => b.toString('base64');

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hearth-caption-'));
  vitDir = join(root, 'vit-gpt2');
  smolDir = join(root, 'smolvlm');
  await Promise.all([writeTinyVitGpt2(vitDir), writeTinySmolVlm(smolDir)]);
  [png, jpeg] = await Promise.all([pngImage(48, 40), jpegImage(64, 48)]);
  vit = new CaptionRunner(settings(vitDir), { log: quiet });
  smol = new CaptionRunner(settings(smolDir), { log: quiet });
  await Promise.all([vit.load(), smol.load()]);
});

afterAll(async () => {
  await Promise.all([vit?.dispose(), smol?.dispose()]);
  if (root) await rm(root, { recursive: true, force: true });
});

describe('CaptionRunner with a vision-encoder-decoder captioner', () => {
  it('captions a PNG through the real transformers.js pipeline', async () => {
    expect(vit.family).toBe('vision-encoder-decoder');
    expect(vit.activeDevice).toBe('cpu');
    const { out, events, steps } = await runJob(vit, { imageBase64: b64(png) });
    expect(steps).toBe(1);
    expect(out.failed).toBeUndefined();
    const result = out.done;
    expect(result?.text).toMatch(/^[a-z ]+$/);
    expect(result?.meta).toMatchObject({
      model: 'caption',
      detail: 'short',
      family: 'vision-encoder-decoder',
      tokens: 8,
      image: { format: 'png', width: 48, height: 40, frames: 1 },
    });
    expect(result?.meta?.['question']).toBeUndefined();
    // The tiny model never emits end-of-sequence, so it stops at the token budget.
    expect(result).toMatchObject({ stopped: true, stopReason: 'maxTokens' });
    const streamed = events.map((e) => (e.type === 'token' ? e.text : '')).join('');
    expect(streamed.trim()).toBe(result?.text);
  });

  it('captions a JPEG given as a file path', async () => {
    const path = join(root, 'photo.jpg');
    await writeFile(path, jpeg);
    const { out } = await runJob(vit, { imagePath: path, declaredType: 'image/jpeg' });
    expect(out.done?.text).toMatch(/^[a-z ]+$/);
    expect(out.done?.meta).toMatchObject({ image: { format: 'jpeg', width: 64, height: 48 } });
  });

  it('gives a detailed caption its own (larger) token budget', async () => {
    const { out } = await runJob(vit, { imageBase64: b64(png), detail: 'detailed' });
    expect(out.done?.meta).toMatchObject({ detail: 'detailed', tokens: 24 });
  });

  it('refuses a question, since this family cannot answer one', async () => {
    const e = await beginError(vit, { imageBase64: b64(png), question: 'What colour is it?' });
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.message).toMatch(/can only describe images, not answer questions/);
    expect(e.facts).toMatchObject({ family: 'vision-encoder-decoder' });
  });
});

describe('CaptionRunner with SmolVLM (answers questions)', () => {
  it('describes an image without a question', async () => {
    expect(smol.family).toBe('smolvlm');
    const { out } = await runJob(smol, { imageBase64: b64(png) });
    expect(out.done?.text).toMatch(/^[a-z ]+$/);
    expect(out.done?.meta).toMatchObject({ family: 'smolvlm', detail: 'short', tokens: 8 });
  });

  it('answers a question: the question reaches the decoder and changes the output', async () => {
    const a = await runJob(smol, { imageBase64: b64(jpeg), question: 'What colour is the left side?' });
    const b = await runJob(smol, { imageBase64: b64(jpeg), question: 'How many?' });
    const plain = await runJob(smol, { imageBase64: b64(jpeg) });
    expect(a.out.done?.meta?.['question']).toBe('What colour is the left side?');
    expect(b.out.done?.meta?.['question']).toBe('How many?');
    expect(a.out.done?.text).toMatch(/^[a-z ]+$/);
    // The prompt the model reads differs by the question's tokens (one per character here) …
    const promptA = Number(a.out.done?.meta?.['promptTokens']);
    const promptB = Number(b.out.done?.meta?.['promptTokens']);
    expect(promptA - promptB).toBe('What colour is the left side?'.length - 'How many?'.length);
    // … and so does what it says.
    expect(a.out.done?.text).not.toBe(b.out.done?.text);
    expect(a.out.done?.text).not.toBe(plain.out.done?.text);
  });

  it('is deterministic for the same input', async () => {
    const a = await runJob(smol, { imageBase64: b64(png), question: 'Where?' });
    const b = await runJob(smol, { imageBase64: b64(png), question: 'Where?' });
    expect(a.out.done?.text).toBe(b.out.done?.text);
  });

  it('loads a checkpoint that says model_type "smolvlm" and has no chat template of its own', async () => {
    const dir = join(root, 'smolvlm-new');
    await writeTinySmolVlm(dir, { modelType: 'smolvlm' });
    const configPath = join(dir, 'tokenizer_config.json');
    const { chat_template: _dropped, ...rest } = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    await writeFile(configPath, JSON.stringify(rest));
    const runner = new CaptionRunner(settings(dir), { log: quiet });
    await runner.load();
    const { out } = await runJob(runner, { imageBase64: b64(png), question: 'What is it?', detail: 'detailed' });
    expect(out.done?.meta).toMatchObject({ family: 'smolvlm', tokens: 24 });
    await runner.dispose();
  });
});

describe('CaptionRunner bad input', () => {
  it('gives each bad image its typed error at begin', async () => {
    const cases: [Record<string, Json>, string, Record<string, Json>][] = [
      [{ imageBase64: b64(textFile()) }, 'IMAGE_INVALID', { detectedType: 'text' }],
      [{ imageBase64: b64(await truncatedPng()) }, 'IMAGE_INVALID', { detectedType: 'png' }],
      [{ imageBase64: b64(jpeg), declaredType: 'cat.png' }, 'IMAGE_INVALID', { detectedType: 'jpeg', declaredType: 'cat.png' }],
      [{ imageBase64: b64(bombPng(20000)) }, 'IMAGE_TOO_LARGE', { width: 20000, height: 20000 }],
    ];
    for (const [payload, code, facts] of cases) {
      const e = await beginError(vit, payload);
      expect(e.code).toBe(code);
      expect(e.facts).toMatchObject(facts);
    }
  });

  it('refuses an image over the byte cap before decoding it', async () => {
    const runner = new CaptionRunner(settings(vitDir, { maxImageBytes: 1000 }), { log: quiet });
    await runner.load();
    const big = await pngImage(400, 400);
    const e = await beginError(runner, { imageBase64: b64(big) });
    expect(e.code).toBe('IMAGE_TOO_LARGE');
    expect(e.facts).toMatchObject({ allowedBytes: 1000 });
    const path = join(root, 'big.png');
    await writeFile(path, big);
    const e2 = await beginError(runner, { imagePath: path });
    expect(e2.facts).toEqual({ givenBytes: big.length, allowedBytes: 1000 });
    await runner.dispose();
  });

  it('checks the payload shape', async () => {
    expect((await beginError(vit, {})).message).toMatch(/exactly one image source/);
    expect((await beginError(vit, { imageBase64: b64(png), imagePath: '/tmp/x.png' })).code).toBe('INVALID_INPUT');
    expect((await beginError(vit, { imagePath: 'relative.png' })).code).toBe('INVALID_INPUT');
    expect((await beginError(vit, { imagePath: join(root, 'missing.png') })).code).toBe('INVALID_INPUT');
    expect((await beginError(vit, { imageBase64: b64(png), detail: 'long' })).code).toBe('INVALID_INPUT');
    const long = await beginError(smol, { imageBase64: b64(png), question: 'x'.repeat(1001) });
    expect(long.code).toBe('PROMPT_TOO_LONG');
    expect(long.facts).toEqual({ option: 'question', given: 1001, allowed: 1000 });
  });

  it('reports a step for a job that was never begun', async () => {
    const [out] = await vit.step(['nope'], { emit: () => undefined });
    expect(out?.failed?.code).toBe('NOT_FOUND');
  });
});

describe('CaptionRunner cancellation', () => {
  it('leaves the job resumable when the step is aborted before it starts', async () => {
    const j = job({ imageBase64: b64(png) });
    await vit.begin(j);
    const ac = new AbortController();
    ac.abort();
    const [first] = await vit.step([j.id], { emit: () => undefined, signal: ac.signal });
    expect(first).toEqual({ jobId: j.id });
    const [second] = await vit.step([j.id], { emit: () => undefined });
    expect(second?.done?.text).toMatch(/^[a-z ]+$/);
    await vit.end(j.id);
  });

  it('stops generating at the next token when aborted mid-caption', async () => {
    const ac = new AbortController();
    const j = job({ imageBase64: b64(png), detail: 'detailed' });
    await vit.begin(j);
    const tokens: string[] = [];
    // Text streams word by word; the first word arrives a few tokens in, well before the 24th.
    const [out] = await vit.step([j.id], {
      signal: ac.signal,
      emit: (_id, e) => {
        if (e.type === 'token') {
          tokens.push(e.text);
          ac.abort();
        }
      },
    });
    expect(out).toEqual({ jobId: j.id });
    expect(tokens.join('').length).toBeLessThan(24);
    await vit.end(j.id);
  });
});

describe('CaptionRunner loading', () => {
  it('estimates VRAM from the ONNX file sizes', async () => {
    const sizes = await Promise.all(
      ['encoder_model.onnx', 'decoder_model_merged.onnx'].map(async (f) => (await stat(join(vitDir, 'onnx', f))).size),
    );
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(await vit.vramBytes()).toBe(Math.ceil(total * 1.2));
  });

  it('names a missing folder', async () => {
    const e = await loadError(new CaptionRunner(settings(join(root, 'nowhere')), { log: quiet }));
    expect(e.code).toBe('MODEL_MISSING');
    expect(e.facts).toMatchObject({ dir: join(root, 'nowhere') });
  });

  it('names a missing ONNX file', async () => {
    const dir = join(root, 'no-decoder');
    await writeTinyVitGpt2(dir);
    await unlink(join(dir, 'onnx', 'decoder_model_merged.onnx'));
    const e = await loadError(new CaptionRunner(settings(dir), { log: quiet }));
    expect(e.code).toBe('MODEL_MISSING');
    expect(e.facts).toMatchObject({ file: 'onnx/decoder_model_merged.onnx' });
  });

  it('names a missing tokenizer file', async () => {
    const dir = join(root, 'no-tokenizer');
    await writeTinySmolVlm(dir);
    await unlink(join(dir, 'tokenizer.json'));
    const e = await loadError(new CaptionRunner(settings(dir), { log: quiet }));
    expect(e.code).toBe('MODEL_MISSING');
    expect(e.facts).toMatchObject({ file: 'tokenizer.json' });
  });

  it('refuses a config that is not JSON, or names an unsupported model type', async () => {
    const dir = join(root, 'bad-config');
    await writeTinyVitGpt2(dir);
    await writeFile(join(dir, 'config.json'), '{ "model_type": ');
    const e = await loadError(new CaptionRunner(settings(dir), { log: quiet }));
    expect(e.code).toBe('MODEL_INVALID');
    expect(e.facts).toMatchObject({ file: 'config.json' });

    await writeFile(join(dir, 'config.json'), JSON.stringify({ model_type: 'florence2' }));
    const e2 = await loadError(new CaptionRunner(settings(dir), { log: quiet }));
    expect(e2.code).toBe('MODEL_INVALID');
    expect(e2.message).toMatch(/"florence2" is not supported/);

    await writeFile(join(dir, 'config.json'), JSON.stringify({ model_type: 'vision-encoder-decoder' }));
    const e3 = await loadError(new CaptionRunner(settings(dir), { log: quiet }));
    expect(e3.code).toBe('MODEL_INVALID');
    expect(e3.facts).toMatchObject({ key: 'encoder' });
  });

  it('refuses an ONNX file that is not a model', async () => {
    const dir = join(root, 'bad-onnx');
    await writeTinyVitGpt2(dir);
    await writeFile(join(dir, 'onnx', 'encoder_model.onnx'), 'not a protobuf at all');
    const e = await loadError(new CaptionRunner(settings(dir), { log: quiet }));
    expect(e.code).toBe('MODEL_INVALID');
    expect(e.facts).toMatchObject({ device: 'cpu' });
  });

  it('falls back from CUDA to CPU with a clear message when CUDA cannot run', async () => {
    const notes: string[] = [];
    const runner = new CaptionRunner(settings(vitDir, { providers: ['cuda', 'cpu'] }), {
      log: (level, message) => notes.push(`${level}: ${message}`),
    });
    await runner.load();
    expect(runner.activeDevice).toBe('cpu');
    expect(notes.some((n) => /^warn: CUDA could not run caption model caption .*falling back to cpu/.test(n))).toBe(true);
    const { out } = await runJob(runner, { imageBase64: b64(png) });
    expect(out.done?.meta).toMatchObject({ device: 'cpu' });
    await runner.dispose();
  });

  it('fails clearly when CUDA is the only provider and cannot run', async () => {
    const e = await loadError(new CaptionRunner(settings(vitDir, { providers: ['cuda'] }), { log: quiet }));
    expect(e.code).toBe('RUNNER_FAILED');
    expect(e.message).toMatch(/add "cpu" to the providers/);
  });

  it('checks its settings, naming the key', () => {
    expect(() => new CaptionRunner(settings(vitDir, { maxNewTokens: 0 }))).toThrow(/maxNewTokens must be an integer between 1 and 1024/);
    expect(() => new CaptionRunner(settings(vitDir, { providers: ['tpu' as 'cpu'] }))).toThrow(/providers/);
  });

  it('can be unloaded, reloaded, and disposed twice', async () => {
    const runner = new CaptionRunner(settings(vitDir), { log: quiet });
    await runner.load();
    const j = job({ imageBase64: b64(png) });
    await runner.begin(j);
    await runner.unload();
    // A begun job outlives the unload, but neither it nor a new one runs until the model is back.
    await expect(runner.step([j.id], { emit: () => undefined })).rejects.toMatchObject({ code: 'RUNNER_FAILED', facts: { loaded: false } });
    await expect(runner.begin(job({ imageBase64: b64(png) }))).rejects.toMatchObject({ code: 'RUNNER_FAILED', facts: { loaded: false } });
    await runner.load();
    const [out] = await runner.step([j.id], { emit: () => undefined });
    expect(out?.done?.text).toMatch(/^[a-z ]+$/);
    await runner.dispose();
    await runner.dispose();
    await expect(runner.load()).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
  });
});
