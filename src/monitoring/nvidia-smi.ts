/**
 * Reading nvidia-smi's CSV (`--format=csv,noheader,nounits`): one line per GPU or per process, fields
 * separated by ", ". A field the card or driver cannot report reads "[N/A]" or "[Not Supported]"
 * (power draw on many laptop GPUs, temperature on some datacenter ones): it becomes null, never 0.
 */

/** The per-GPU fields asked for, in this order. */
export const GPU_QUERY = ['index', 'utilization.gpu', 'memory.used', 'memory.total', 'temperature.gpu', 'power.draw'] as const;

export const GPU_ARGS: readonly string[] = [`--query-gpu=${GPU_QUERY.join(',')}`, '--format=csv,noheader,nounits'];
export const APPS_ARGS: readonly string[] = ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'];

const MIB = 1024 * 1024;

/** One GPU as nvidia-smi reported it. Null: the tool said it cannot tell ("[N/A]"). */
export interface GpuReading {
  /** nvidia-smi's index: the `gpu` label of the metrics, and CUDA's device order by default. */
  index: number;
  /** Busy share of the last sample period, 0..1. */
  utilization: number | null;
  memoryUsedBytes: number | null;
  memoryTotalBytes: number | null;
  temperatureCelsius: number | null;
  powerWatts: number | null;
}

/** A process using a GPU. */
export interface GpuProcess {
  pid: number;
  /** Null on platforms that do not report a process's memory (e.g. some WDDM and MIG setups). */
  memoryBytes: number | null;
}

/** A number field, or null for "[N/A]", "[Not Supported]", "N/A" and anything else that is no number. */
export function csvNumber(field: string | undefined): number | null {
  const f = (field ?? '').trim();
  if (f === '' || f.startsWith('[') || !/^-?\d+(\.\d+)?$/.test(f)) return null;
  const n = Number(f);
  return Number.isFinite(n) ? n : null;
}

function lines(stdout: string): string[][] {
  return stdout
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^no running (processes|compute)/i.test(l))
    .map((l) => l.split(',').map((f) => f.trim()));
}

/**
 * The GPUs in `--query-gpu=index,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw`
 * output. A line without a readable index is skipped; other fields may be null. Throws when no line
 * could be read at all (the tool printed an error instead of CSV).
 */
export function parseGpuCsv(stdout: string): GpuReading[] {
  const out: GpuReading[] = [];
  const rows = lines(stdout);
  for (const f of rows) {
    const index = csvNumber(f[0]);
    if (index === null || !Number.isInteger(index) || f.length < GPU_QUERY.length) continue;
    const util = csvNumber(f[1]);
    const used = csvNumber(f[2]);
    const total = csvNumber(f[3]);
    out.push({
      index,
      utilization: util === null ? null : Math.min(1, Math.max(0, util / 100)),
      memoryUsedBytes: used === null ? null : used * MIB,
      memoryTotalBytes: total === null ? null : total * MIB,
      temperatureCelsius: csvNumber(f[4]),
      powerWatts: csvNumber(f[5]),
    });
  }
  if (out.length === 0 && rows.length > 0) throw new Error(`nvidia-smi printed no GPU line: ${firstLine(stdout)}`);
  return out.sort((a, b) => a.index - b.index);
}

/** The processes in `--query-compute-apps=pid,used_memory` output (none is an empty list). */
export function parseAppsCsv(stdout: string): GpuProcess[] {
  const out: GpuProcess[] = [];
  for (const f of lines(stdout)) {
    const pid = csvNumber(f[0]);
    if (pid === null || !Number.isInteger(pid)) continue;
    const mem = csvNumber(f[1]);
    out.push({ pid, memoryBytes: mem === null ? null : mem * MIB });
  }
  return out;
}

/** The first non-empty line of a tool's output, for a log line. */
export function firstLine(text: string): string {
  return (text.split(/\r?\n/).find((l) => l.trim() !== '') ?? '').trim().slice(0, 200);
}
