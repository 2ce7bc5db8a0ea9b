/**
 * A fake `nvidia-smi` in a folder of its own, for tests that put that folder first on PATH: it answers
 * `--query-gpu=name,memory.total --format=csv,noheader[,nounits]` the way the real one does for the
 * given card (memory in MiB), or fails as the real one does on a machine with a driver and no device.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export type FakeGpu = { name: string; memoryMiB: number } | 'no-device';

/** Writes the fake and returns its folder. */
export function fakeNvidiaSmi(gpu: FakeGpu): string {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-nvidia-smi-'));
  const body =
    gpu === 'no-device'
      ? 'echo "No devices were found"\nexit 6\n'
      : [
          'case "$*" in',
          `  *nounits*) echo "${gpu.name}, ${gpu.memoryMiB}" ;;`,
          `  *) echo "${gpu.name}, ${gpu.memoryMiB} MiB" ;;`,
          'esac',
          '',
        ].join('\n');
  const path = join(dir, 'nvidia-smi');
  writeFileSync(path, `#!/bin/sh\n${body}`);
  chmodSync(path, 0o755);
  return dir;
}

/** A PATH with `first` ahead of the given one. */
export function pathWith(first: string, rest = process.env.PATH ?? ''): string {
  return rest ? `${first}${delimiter}${rest}` : first;
}

/** A folder with nothing in it: as PATH, no nvidia-smi is found. */
export function emptyPathDir(): string {
  return mkdtempSync(join(tmpdir(), 'hearth-empty-path-'));
}
