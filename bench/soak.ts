/**
 * Soak: days of mixed traffic from many people compressed into minutes, through the real commands,
 * engine and SQLite store, with simulated runners (in process, 1 ms steps) and a clock that moves an
 * hour per round. The daily upkeep (retention, compaction) runs at each simulated midnight. Sampled
 * each round: RSS, heap, event-loop lag (p99 of the round), open handles, and the database's size on
 * disk. Fails (exit 1 through the caller) when one of them grows without bound: a least-squares line
 * through the second half of the run whose rise over that half exceeds the allowed share.
 *
 * `npm run bench soak` runs the short soak (8 simulated days); `npm run bench soak -- --long` 30 days.
 */
import { rmSync, statSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Invocation } from '../src/commands/invocation.js';
import { simApp } from '../test/helpers/sim-app.js';

const HOUR = 3_600_000;

export interface SoakOptions {
  days: number;
  people: number;
  /** Jobs submitted per simulated hour. */
  perHour: number;
  retentionDays: number;
}

interface Sample {
  hour: number;
  rss: number;
  heap: number;
  lagP99Ms: number;
  handles: number;
  dbBytes: number;
  jobs: number;
}

interface Verdict {
  name: string;
  first: number;
  last: number;
  rise: number;
  allowed: number;
  ok: boolean;
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

const WORDS = 'the quick fox asks about rivers mountains code bread music stars tea rain'.split(' ');

function gcFunction(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose_gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

export async function soak(o: SoakOptions): Promise<{ samples: Sample[]; verdicts: Verdict[]; seconds: number }> {
  let offset = 0;
  const clock = { now: () => Date.now() + offset };
  const { app, dataDir } = await simApp({ adapters: [], clock, chatStepMs: 1, imageStepMs: 1, captionStepMs: 1, config: { retention: { days: o.retentionDays }, limits: { maxQueuedPerUser: 50 } } });
  const db = join(dataDir, 'hearth.db');
  const size = (p: string): number => statSync(p, { throwIfNoEntry: false })?.size ?? 0;
  const gc = gcFunction();
  const lag = monitorEventLoopDelay({ resolution: 10 });
  const png = new Uint8Array(await sharp({ create: { width: 48, height: 32, channels: 3, background: '#336699' } }).png().toBuffer());
  const samples: Sample[] = [];
  let seed = 42;
  const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let jobs = 0;
  const t0 = performance.now();
  await app.start();
  lag.enable();
  try {
    for (let hour = 0; hour < o.days * 24; hour++) {
      const pending: Array<Promise<unknown>> = [];
      for (let j = 0; j < o.perHour; j++) {
        const who = Math.floor(rand() ** 2 * o.people); // some people far busier than others
        const inv: Invocation = { platform: 'discord', userId: `discord:${1000 + who}`, admin: false, weight: 1, conversationId: `discord:dm:${who}`, origin: null };
        const r = rand();
        const prompt = Array.from({ length: 4 + Math.floor(rand() * 8) }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ');
        if (r < 0.65) pending.push(app.commands.ask({ prompt }, inv));
        else if (r < 0.9) pending.push(Promise.resolve(app.commands.imagine({ prompt, steps: 2 + Math.floor(rand() * 4) }, inv)));
        else pending.push(app.commands.caption({ imageBytes: png }, inv));
      }
      jobs += (await Promise.all(pending)).length;
      await app.engine.whenIdle();
      offset += HOUR;
      if ((hour + 1) % 24 === 0) await app.upkeep();
      gc?.();
      const mem = process.memoryUsage();
      samples.push({
        hour: hour + 1,
        rss: mem.rss,
        heap: mem.heapUsed,
        lagP99Ms: lag.percentile(99) / 1e6,
        handles: process.getActiveResourcesInfo().length,
        dbBytes: size(db) + size(`${db}-wal`),
        jobs,
      });
      lag.reset();
    }
  } finally {
    lag.disable();
    await app.close();
    app.store.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return { samples, verdicts: judge(samples), seconds: (performance.now() - t0) / 1000 };
}

/**
 * Growth over the second half (the fitted line's rise across it) against an allowance: a share of the
 * half's mean, plus a floor for what is noise at this size. The database is judged on its size just
 * after each daily upkeep (between upkeeps it grows by a day's traffic, by design).
 */
export function judge(samples: Sample[]): Verdict[] {
  const half = samples.slice(Math.floor(samples.length / 2));
  const daily = samples.filter((s) => s.hour % 24 === 0);
  const dailyHalf = daily.slice(Math.floor(daily.length / 2));
  const rules: Array<{ name: string; of: Sample[]; get: (s: Sample) => number; share: number; floor: number }> = [
    { name: 'RSS (MB)', of: half, get: (s) => s.rss / 2 ** 20, share: 0.1, floor: 8 },
    { name: 'heap used (MB)', of: half, get: (s) => s.heap / 2 ** 20, share: 0.1, floor: 4 },
    { name: 'event-loop lag p99 (ms)', of: half, get: (s) => s.lagP99Ms, share: 0.5, floor: 10 },
    { name: 'open handles', of: half, get: (s) => s.handles, share: 0, floor: 2 },
    { name: 'database after upkeep (MB)', of: dailyHalf, get: (s) => s.dbBytes / 2 ** 20, share: 0.1, floor: 0.25 },
  ];
  return rules.map(({ name, of, get, share, floor }) => {
    const ys = of.map(get);
    const xs = of.map((s) => s.hour);
    const rise = ys.length > 1 ? slope(xs, ys) * (xs[xs.length - 1]! - xs[0]!) : 0;
    const mean = ys.reduce((a, b) => a + b, 0) / Math.max(1, ys.length);
    const allowed = mean * share + floor;
    return { name, first: ys[0] ?? 0, last: ys[ys.length - 1] ?? 0, rise, allowed, ok: rise <= allowed };
  });
}

const f = (n: number, d = 1): string => n.toFixed(d);

export async function runSoakBench(): Promise<string> {
  const long = process.argv.includes('--long');
  const opts: SoakOptions = long ? { days: 30, people: 200, perHour: 40, retentionDays: 7 } : { days: 8, people: 60, perHour: 12, retentionDays: 2 };
  const { samples, verdicts, seconds } = await soak(opts);
  const out: string[] = [];
  out.push(`${opts.days} simulated days (${samples.at(-1)?.jobs ?? 0} jobs from ${opts.people} people: 65% chat, 25% image, 10% caption; retention ${opts.retentionDays} days) in ${f(seconds)} s`);
  out.push('');
  out.push('| day | RSS MB | heap MB | lag p99 ms | handles | database MB |');
  out.push('|---:|---:|---:|---:|---:|---:|');
  for (const s of samples.filter((x) => x.hour % 24 === 0)) {
    out.push(`| ${s.hour / 24} | ${f(s.rss / 2 ** 20)} | ${f(s.heap / 2 ** 20)} | ${f(s.lagP99Ms)} | ${s.handles} | ${f(s.dbBytes / 2 ** 20, 2)} |`);
  }
  out.push('');
  out.push('| growth over the second half | start | end | fitted rise | allowed | |');
  out.push('|---|---:|---:|---:|---:|---|');
  for (const v of verdicts) out.push(`| ${v.name} | ${f(v.first, 2)} | ${f(v.last, 2)} | ${f(v.rise, 2)} | ${f(v.allowed, 2)} | ${v.ok ? 'bounded' : '**grows**'} |`);
  const failed = verdicts.filter((v) => !v.ok);
  if (failed.length > 0) {
    process.exitCode = 1;
    out.push('', `SOAK FAILED: ${failed.map((v) => v.name).join(', ')} grew without bound`);
  }
  return out.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(await runSoakBench());
