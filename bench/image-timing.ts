/**
 * What the image benches share: timing one image in wall-clock and CPU time, the same image through
 * hearth's ImageRunner (begin, then one `step` per UNet evaluation), alternating the paths with a
 * pause between runs, and the table rows they print.
 */
import { performance } from 'node:perf_hooks';
import type { ImageRunner } from '../src/runners/image/image-runner.js';

export interface Sample {
  seconds: number;
  stepsPerSecond: number;
  /** Steps per CPU-second of the whole process (all threads): less sensitive to other work on the machine. */
  stepsPerCpuSecond: number;
}

export type SampleKey = 'stepsPerSecond' | 'stepsPerCpuSecond';

/** Times `fn`, which takes `steps` UNet steps, in wall-clock and process CPU time. */
export async function measure(steps: number, fn: () => Promise<void>): Promise<Sample> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { seconds, stepsPerSecond: steps / seconds, stepsPerCpuSecond: steps / ((cpu.user + cpu.system) / 1e6) };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export const best = (xs: readonly Sample[], key: SampleKey = 'stepsPerSecond'): number => Math.max(...xs.map((x) => x[key]));
export const mid = (xs: readonly Sample[], key: SampleKey = 'stepsPerSecond'): number => median(xs.map((x) => x[key]));

/** One guided Euler image of `size`² and `steps` steps through hearth, a new seed each call. */
export function throughRunner(runner: ImageRunner, opts: { size: number; steps: number; idPrefix: string }): () => Promise<Sample> {
  let n = 0;
  return () => {
    const id = `${opts.idPrefix}-${++n}`;
    return measure(opts.steps, async () => {
      const { steps } = await runner.begin({
        id,
        kind: 'image',
        model: 'image',
        userId: 'bench',
        payload: { prompt: 'a photo of a cat', width: opts.size, height: opts.size, steps: opts.steps, guidance: 7.5, seed: n, scheduler: 'euler' },
      });
      for (let i = 0; i < steps; i++) {
        const [out] = await runner.step([id], { emit: () => undefined });
        if (out?.failed) throw new Error(out.failed.message);
      }
    });
  };
}

/**
 * Runs each path once to warm it up (first runs allocate ONNX Runtime's arenas), then `reps` rounds of
 * all paths in turn. A pause before each run lets the previous path's ONNX Runtime threads stop
 * spinning, so no path starts on cores still busy with another's leftovers.
 */
export async function alternate(paths: ReadonlyArray<() => Promise<Sample>>, reps: number): Promise<Sample[][]> {
  for (const path of paths) await path();
  const samples = paths.map((): Sample[] => []);
  const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 300));
  for (let i = 0; i < reps; i++) {
    for (const [j, path] of paths.entries()) {
      await settle();
      samples[j]?.push(await path());
    }
  }
  return samples;
}

export const TABLE_HEAD = [
  '| path | steps/s (best) | steps/s (median) | steps per CPU-second (median) | ms per step, best (incl. encode + decode) |',
  '|---|---:|---:|---:|---:|',
];

/** A path's row: best and median steps/s, median steps per CPU-second, ms per step of the best run. */
export function pathRow(name: string, xs: readonly Sample[], digits: number): string {
  return `| ${name} | ${best(xs).toFixed(digits)} | ${mid(xs).toFixed(digits)} | ${mid(xs, 'stepsPerCpuSecond').toFixed(digits)} | ${(1000 / best(xs)).toFixed(digits > 2 ? 0 : 1)} |`;
}

/** A ratio row `of / over`: best, median, per CPU-second (median); the headline one in bold. */
export function ratioRow(name: string, of: readonly Sample[], over: readonly Sample[], headline = false): string {
  const r = (f: typeof best, key: SampleKey): string => (f(of, key) / f(over, key)).toFixed(3);
  const first = headline ? `**${r(best, 'stepsPerSecond')}**` : r(best, 'stepsPerSecond');
  return `| ${headline ? `**${name}**` : name} | ${first} | ${r(mid, 'stepsPerSecond')} | ${r(mid, 'stepsPerCpuSecond')} | |`;
}
