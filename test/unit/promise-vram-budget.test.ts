/**
 * README, Configuration: "`models.vramBudgetMB` — VRAM hearth may fill; `auto` reads it from
 * `nvidia-smi`" (src/app/vram.ts). The real resolver runs a fake nvidia-smi found on a temporary PATH
 * (test/helpers/fake-nvidia-smi.ts); without one, or when it finds no device, it falls back to half the
 * system memory (models then live in RAM) and says so.
 */
import { rmSync } from 'node:fs';
import { totalmem } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveVramBudget } from '../../src/app/vram.js';
import { emptyPathDir, fakeNvidiaSmi, pathWith } from '../helpers/fake-nvidia-smi.js';

const MiB = 2 ** 20;
const PATH = process.env.PATH;
const made: string[] = [];

function onPath(dir: string, only = false): void {
  made.push(dir);
  process.env.PATH = only ? dir : pathWith(dir, PATH);
}

afterEach(() => {
  process.env.PATH = PATH;
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('models.vramBudgetMB: auto', () => {
  it('reads the first GPU’s memory from nvidia-smi, keeping 10% for the driver and desktop', () => {
    onPath(fakeNvidiaSmi({ name: 'NVIDIA GeForce RTX 4070 Ti', memoryMiB: 12282 }));
    const budget = resolveVramBudget('auto');
    expect(budget).toEqual({ bytes: Math.floor(12282 * 0.9) * MiB, source: 'nvidia-smi', gpuName: 'NVIDIA GeForce RTX 4070 Ti' });
  });

  it('follows the card it finds (a 24 GB card gives a bigger budget)', () => {
    onPath(fakeNvidiaSmi({ name: 'NVIDIA GeForce RTX 4090', memoryMiB: 24564 }));
    expect(resolveVramBudget('auto')).toMatchObject({ bytes: Math.floor(24564 * 0.9) * MiB, gpuName: 'NVIDIA GeForce RTX 4090' });
  });

  it('without nvidia-smi on PATH, falls back to half the system memory and says why', () => {
    onPath(emptyPathDir(), true);
    expect(resolveVramBudget('auto')).toEqual({ bytes: Math.floor(totalmem() / 2), source: 'system memory (no GPU found)' });
  });

  it('when nvidia-smi finds no device, falls back the same way', () => {
    onPath(fakeNvidiaSmi('no-device'));
    expect(resolveVramBudget('auto')).toEqual({ bytes: Math.floor(totalmem() / 2), source: 'system memory (no GPU found)' });
  });

  it('a number in the config wins over nvidia-smi', () => {
    onPath(fakeNvidiaSmi({ name: 'NVIDIA GeForce RTX 4070 Ti', memoryMiB: 12282 }));
    expect(resolveVramBudget(6000)).toEqual({ bytes: 6000 * MiB, source: 'config' });
  });
});
