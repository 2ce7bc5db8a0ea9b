/**
 * README: `npx hearth doctor` checks "GPU, models, and whether they fit in VRAM together"; exit codes
 * "0 ok … 3 doctor found problems"; Configuration: `models.vramBudgetMB: auto` reads the budget from
 * nvidia-smi; GPU: `models.chat.gpu: auto` picks the CPU where there is no GPU, and doctor says which.
 *
 * The real `hearth doctor` (src/cli/doctor.ts) with the real GPU worker describing real tiny models (a
 * GGUF and an SD-shaped ONNX folder written by the fixtures), their VRAM sizes set in the config
 * (`models.*.vramMB`: 6000 MB chat, 5000 MB image), and a fake nvidia-smi on PATH for `auto`.
 *
 * What doctor does when the models don't fit together is a warning, not a problem (exit 0): DESIGN says
 * such models are swapped (preferring the loaded one within models.fairnessLagSeconds) and a model
 * bigger than the whole budget loads partly on the CPU, which "hearth doctor warns about". Exit 3 is
 * for what stops hearth from working, e.g. a model whose size cannot be told at all (the GPU worker
 * describes it as 0 bytes so the other models still serve; doctor used to call that a fit).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyGguf } from '../fixtures/tiny-gguf.js';
import { writeTinySd } from '../fixtures/tiny-sd.js';
import { emptyPathDir, fakeNvidiaSmi, pathWith } from '../helpers/fake-nvidia-smi.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TSX = fileURLToPath(new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'hearth-doctor-fit-'));
/** nvidia-smi as on the reference card (12 GB): auto gives floor(12282 × 0.9) = 11053 MB. */
const card = fakeNvidiaSmi({ name: 'NVIDIA GeForce RTX 4070 Ti', memoryMiB: 12282 });
const noPath = emptyPathDir();

beforeAll(async () => {
  await writeTinyGguf(join(dir, 'chat.gguf'));
  await writeTinySd(join(dir, 'sd'));
  writeFileSync(join(dir, 'not-a-model.gguf'), 'this is not a GGUF file, only text with the name of one\n');
}, 120_000);

afterAll(() => {
  for (const d of [dir, card, noPath]) rmSync(d, { recursive: true, force: true });
});

function doctor(name: string, models: string, path: string): Promise<{ code: number | null; out: string; err: string }> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `dataDir: ${join(dir, `${name}-data`)}\nmodels:\n${models}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, MAIN, 'doctor', '--config', file], {
      cwd: dir,
      env: { ...process.env, HEARTH_CONFIG: '', PATH: path },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

const models = (budget: string, chat = { path: join(dir, 'chat.gguf'), vramMB: '6000' as string | null }): string =>
  [
    `  vramBudgetMB: ${budget}`,
    '  fairnessLagSeconds: 20',
    '  chat:',
    `    path: ${chat.path}`,
    '    threads: 1',
    '    gpu: auto',
    ...(chat.vramMB ? [`    vramMB: ${chat.vramMB}`] : []),
    '  image:',
    `    dir: ${join(dir, 'sd')}`,
    '    vramMB: 5000',
    '',
  ].join('\n');

/** The line doctor printed for a check. */
const line = (out: string, what: string): string => out.split('\n').find((l) => l.slice(2).startsWith(`${what}:`)) ?? `(no "${what}" line in:\n${out})`;

describe('hearth doctor: VRAM fit', () => {
  it('models that fit the budget nvidia-smi gives: ✓, exit 0; and it says the chat model runs on the CPU', async () => {
    const r = await doctor('fits', models('auto'), pathWith(card));
    expect(line(r.out, 'VRAM budget')).toBe('✓ VRAM budget: 11,053 MB (nvidia-smi: NVIDIA GeForce RTX 4070 Ti)');
    expect(line(r.out, 'VRAM fit')).toBe('✓ VRAM fit: all models fit together: 11,000 MB of 11,053 MB (chat 6,000 MB, image 5,000 MB)');
    // gpu: auto on a machine with no GPU llama.cpp can use: the CPU, said as a warning.
    expect(line(r.out, 'llama.cpp')).toMatch(/^! llama\.cpp: no GPU in use \(CPU\)/);
    expect(r.out).not.toContain('✗');
    expect(r.code).toBe(0);
  });

  it('models that do not fit together: a warning naming what they need, the budget and the fairness lag; exit 0 (they are swapped)', async () => {
    const r = await doctor('swaps', models('8000'), pathWith(card));
    expect(line(r.out, 'VRAM budget')).toBe('✓ VRAM budget: 8,000 MB (config)');
    expect(line(r.out, 'VRAM fit')).toBe(
      '! VRAM fit: the models need 11,000 MB together, more than 8,000 MB (chat 6,000 MB, image 5,000 MB): hearth swaps them, preferring the loaded one within models.fairnessLagSeconds (20 s)',
    );
    expect(r.code).toBe(0);
  });

  it('a model bigger than the whole budget: a warning naming it (it loads partly on the CPU)', async () => {
    const r = await doctor('too-big', models('5500'), pathWith(card));
    expect(line(r.out, 'VRAM fit')).toMatch(/^! VRAM fit: chat alone exceed\(s\) the budget of 5,500 MB \(chat 6,000 MB, image 5,000 MB\)/);
    expect(r.code).toBe(0);
  });

  it('without nvidia-smi, auto falls back to system memory and says so', async () => {
    const r = await doctor('no-smi', models('auto'), pathWith(noPath, ''));
    expect(line(r.out, 'NVIDIA GPU')).toMatch(/^! NVIDIA GPU: none found/);
    expect(line(r.out, 'VRAM budget')).toMatch(/^✓ VRAM budget: [\d,]+ MB \(system memory \(no GPU found\)\)$/);
    expect(line(r.out, 'VRAM fit')).toMatch(/^[✓!] VRAM fit: /);
  });

  it('a model whose size cannot be told (not a GGUF): ✗ naming it, exit 3, not "all models fit"', async () => {
    const r = await doctor('unknown', models('12000', { path: join(dir, 'not-a-model.gguf'), vramMB: null }), pathWith(card));
    expect(line(r.out, 'VRAM fit')).toMatch(/^✗ VRAM fit: model "chat" cannot be estimated: .*not-a-model\.gguf: expected a GGUF file/);
    expect(r.code).toBe(3);
  });
});
