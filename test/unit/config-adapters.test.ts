/**
 * `models.chat.adapters` at start: each adapter file must exist, be a GGUF file and say it is an
 * adapter; a channel may only name a configured adapter. Each error names the key and the fix.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatConfigError, loadConfig } from '../../src/config/load.js';
import { writeTinyLora } from '../fixtures/gguf/lora.js';
import { writeTinyGguf } from '../fixtures/tiny-gguf.js';

let dir: string;
let n = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hearth-config-adapters-'));
  await writeTinyLora(join(dir, 'style.gguf'));
  await writeTinyGguf(join(dir, 'model.gguf'));
  await writeFile(join(dir, 'text.gguf'), 'not a gguf');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function load(adapters: string, extra = '') {
  const file = join(dir, `c${n++}.yaml`);
  await writeFile(file, `models:\n  chat:\n    path: ./model.gguf\n    adapters:\n${adapters}${extra}`);
  return loadConfig({ path: file, env: {}, cwd: dir });
}

describe('models.chat.adapters', () => {
  it('loads adapters with paths resolved and scale defaulted, and a channel naming one', async () => {
    const r = await load('      style:\n        path: ./style.gguf\n      strong:\n        path: ./style.gguf\n        scale: 2\n', '    channelAdapters:\n      "123": style\n');
    if (!r.ok) throw new Error(formatConfigError(r.error));
    expect(r.value.config.models.chat?.adapters).toEqual({ style: { path: join(dir, 'style.gguf'), scale: 1 }, strong: { path: join(dir, 'style.gguf'), scale: 2 } });
    expect(r.value.config.models.chat?.channelAdapters).toEqual({ '123': 'style' });
  });

  it.each([
    ['missing', './nowhere.gguf', 'the file does not exist'],
    ['text', './text.gguf', 'the file is not a GGUF file'],
    ['model', './model.gguf', 'the file has no general.type key: it is not a LoRA adapter GGUF'],
  ])('refuses a bad adapter file (%s), naming the key and the fix', async (name, path, problem) => {
    const r = await load(`      ${name}:\n        path: ${path}\n`);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.key).toBe(`models.chat.adapters.${name}.path`);
    const text = formatConfigError(r.error);
    expect(text).toContain(`models.chat.adapters.${name}.path: ${problem}`);
    expect(text).toContain("convert_lora_to_gguf.py");
  });

  it('refuses a general.type other than adapter', async () => {
    await writeTinyLora(join(dir, 'typed.gguf'), { generalType: 'model' });
    const r = await load('      typed:\n        path: ./typed.gguf\n');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toContain(`general.type is "model", not "adapter"`);
  });

  it('refuses a channel that names no configured adapter, listing the names', async () => {
    const r = await load('      style:\n        path: ./style.gguf\n', '    channelAdapters:\n      "123": pirate\n');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.key).toBe('models.chat.channelAdapters.123');
    expect(r.error.message).toContain('models.chat.adapters: style');
  });
});
