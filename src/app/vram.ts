import { spawnSync } from 'node:child_process';
import { totalmem } from 'node:os';

export interface VramBudget {
  bytes: number;
  /** Where the number came from, for the start-up log and `hearth doctor`. */
  source: 'config' | 'nvidia-smi' | 'system memory (no GPU found)';
  gpuName?: string;
}

/**
 * The VRAM budget: from config (`models.vramBudgetMB`), else the first NVIDIA GPU's memory less a
 * 10% margin for the driver and desktop, else (no GPU) half the system memory, since models then
 * live in RAM.
 */
export function resolveVramBudget(configured: number | 'auto', run: typeof spawnSync = spawnSync): VramBudget {
  if (configured !== 'auto') return { bytes: configured * 1024 * 1024, source: 'config' };
  const smi = run('nvidia-smi', ['--query-gpu=name,memory.total', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 5000 });
  if (smi.status === 0 && typeof smi.stdout === 'string') {
    const first = smi.stdout.trim().split('\n')[0] ?? '';
    const [name, mb] = first.split(',').map((s) => s.trim());
    const total = Number(mb);
    if (total > 0) return { bytes: Math.floor(total * 0.9) * 1024 * 1024, source: 'nvidia-smi', ...(name ? { gpuName: name } : {}) };
  }
  return { bytes: Math.floor(totalmem() / 2), source: 'system memory (no GPU found)' };
}
