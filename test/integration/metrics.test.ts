/**
 * GET /metrics on the console's address, read by a real Prometheus text parser: the families named in
 * DESIGN.md, counters that move when jobs run (simulated GPU), the queue, wait times, and per-GPU
 * gauges from a fake nvidia-smi with two GPUs (one reporting "[N/A]"). Off loopback, the console's token.
 */
import { rmSync } from 'node:fs';
import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HearthApp } from '../../src/app/hearth-app.js';
import { createWebAdapter, type WebAdapter } from '../../src/bots/web/index.js';
import type { CommandRunner } from '../../src/monitoring/gpu-monitor.js';
import type { JobKind, JobRecord, Json } from '../../src/engine/types.js';
import { METRIC_FAMILIES } from '../helpers/metric-families.js';
import { simApp } from '../helpers/sim-app.js';

const MIB = 2 ** 20;
const NAMES = METRIC_FAMILIES;

const twoGpus: CommandRunner = async (_file, args) =>
  args[0]!.startsWith('--query-gpu') ? '0, 45, 6144, 24564, 61, 180.5\n1, [N/A], 1024, 8192, 40, [N/A]\n' : `${process.pid}, 5000\n`;

type Families = Map<string, PrometheusFamily>;

function parse(text: string): Families {
  return new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
}

/** The value of one sample, found by its labels (all of them). */
function value(fams: Families, name: string, labels: Record<string, string> = {}): number | undefined {
  const fam = fams.get(name);
  const sample = fam?.metrics.find((m) => JSON.stringify(m.labels ?? {}) === JSON.stringify(labels));
  return sample?.value === undefined ? undefined : Number(sample.value);
}

async function finished(app: HearthApp, jobId: string): Promise<JobRecord> {
  for await (const e of app.engine.watch(jobId)) void e;
  return app.engine.getJob(jobId)!;
}

function submit(app: HearthApp, kind: JobKind, payload: Json, userId = 'web:ada'): string {
  const r = app.engine.submit({ kind, model: kind, userId, payload, estimatedSteps: 4 }, { admin: true });
  if (!r.ok) throw new Error(r.error.message);
  return r.value.id;
}

describe('Prometheus metrics', () => {
  let app: HearthApp;
  let web: WebAdapter;
  let dataDir: string;

  beforeAll(async () => {
    const made = await simApp({
      config: { web: { port: 0 } },
      adapters: [(ctx) => (web = createWebAdapter(ctx))],
      monitoring: { run: twoGpus, isOwnProcess: (pid) => pid === process.pid },
    });
    ({ app, dataDir } = made);
  });
  afterAll(async () => {
    await app?.close();
    app?.store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('counts the queue by kind before the jobs run', async () => {
    // Before start, hearth is starting: jobs are stored and wait for the models.
    submit(app, 'image', { steps: 3 });
    submit(app, 'image', { steps: 3 });
    submit(app, 'chat', { steps: 2, token: 'hi ' });
    const fams = parse(await app.metrics.text());
    expect(value(fams, 'hearth_queue_jobs', { kind: 'image' })).toBe(2);
    expect(value(fams, 'hearth_queue_jobs', { kind: 'chat' })).toBe(1);
    expect(value(fams, 'hearth_queue_jobs', { kind: 'caption' })).toBe(0);
    await app.start();
    await app.engine.whenIdle();
  });

  it('serves every family at GET /metrics, and the counters move as jobs run', async () => {
    const res0 = await fetch(new URL('/metrics', web.url()));
    expect(res0.status).toBe(200);
    expect(res0.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const before = parse(await res0.text());
    for (const name of NAMES) expect(before.has(name), name).toBe(true);
    expect(before.get('hearth_jobs_total')!.type).toBe('COUNTER');
    expect(before.get('hearth_job_wait_seconds')!.type).toBe('HISTOGRAM');
    expect(before.get('hearth_gpu_power_watts')!.type).toBe('GAUGE');
    expect(value(before, 'hearth_jobs_total', { kind: 'image', outcome: 'done' })).toBe(2);
    expect(value(before, 'hearth_jobs_total', { kind: 'caption', outcome: 'failed' })).toBe(0);
    expect(value(before, 'hearth_image_steps_total')).toBe(6);

    const jobs = [
      submit(app, 'chat', { steps: 5, token: 'tok ' }),
      submit(app, 'image', { steps: 4 }),
      submit(app, 'caption', { steps: 1 }),
      submit(app, 'caption', { steps: 1, invalid: true }),
    ];
    const records = await Promise.all(jobs.map((id) => finished(app, id)));
    expect(records.map((r) => r.state)).toEqual(['done', 'done', 'done', 'failed']);
    // A long chat, cancelled once it has streamed a token: its last step is charged after the end.
    const long = submit(app, 'chat', { steps: 10_000, token: 'x ' });
    for await (const e of app.engine.watch(long)) {
      if (e.type === 'token') break;
    }
    expect(app.engine.cancel(long, { userId: 'web:ada', admin: true }).ok).toBe(true);
    await app.engine.whenIdle();

    const after = parse(await (await fetch(new URL('/metrics', web.url()))).text());
    const moved = (name: string, labels: Record<string, string> = {}): number => (value(after, name, labels) ?? 0) - (value(before, name, labels) ?? 0);
    expect(moved('hearth_jobs_total', { kind: 'chat', outcome: 'done' })).toBe(1);
    expect(moved('hearth_jobs_total', { kind: 'image', outcome: 'done' })).toBe(1);
    expect(moved('hearth_jobs_total', { kind: 'caption', outcome: 'done' })).toBe(1);
    expect(moved('hearth_jobs_total', { kind: 'caption', outcome: 'failed' })).toBe(1);
    expect(moved('hearth_jobs_total', { kind: 'chat', outcome: 'cancelled' })).toBe(1);
    expect(moved('hearth_image_steps_total')).toBe(4);
    const longTokens = app.engine.getJob(long)!.result?.text?.split(' ').filter(Boolean).length ?? 0;
    expect(longTokens).toBeGreaterThan(0);
    expect(moved('hearth_chat_tokens_total')).toBe(5 + longTokens);
    for (const kind of ['chat', 'image', 'caption'] as const) {
      expect(value(after, 'hearth_queue_jobs', { kind })).toBe(0);
      // GPU-seconds: what the store charged every job of the kind, late charges included.
      const charged = app.store.listJobs().filter((j) => j.kind === kind).reduce((a, j) => a + j.usedSeconds, 0);
      expect(value(after, 'hearth_gpu_seconds_total', { kind })).toBeCloseTo(charged, 6);
      expect(charged).toBeGreaterThan(0);
    }
    // Every job that began was waited for once: 3 + 2 + 2 begun (the invalid caption began, too).
    // The text parser keeps a histogram's buckets but drops labelled _count/_sum lines, so the
    // counts per kind are read from the registry itself.
    expect(after.get('hearth_job_wait_seconds')!.metrics.some((m) => m.buckets?.['+Inf'] !== undefined)).toBe(true);
    const json = await app.metrics.registry.getMetricsAsJSON();
    // Histogram values carry the name of their line (prom-client's MetricValueWithName).
    const wait = json.find((m) => m.name === 'hearth_job_wait_seconds')!.values as Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>;
    const count = (kind: string): number => wait.find((v) => v.metricName === 'hearth_job_wait_seconds_count' && v.labels['kind'] === kind)?.value ?? 0;
    expect([count('chat'), count('image'), count('caption')]).toEqual([3, 3, 2]);
    const inf = wait.find((v) => v.metricName === 'hearth_job_wait_seconds_bucket' && v.labels['kind'] === 'image' && v.labels['le'] === '+Inf');
    expect(inf?.value).toBe(3);
  });

  it('reports each GPU from nvidia-smi, leaving out what it could not read', async () => {
    await app.gpu.poll();
    const fams = parse(await (await fetch(new URL('/metrics', web.url()))).text());
    expect(value(fams, 'hearth_gpu_utilization_ratio', { gpu: '0' })).toBe(0.45);
    expect(value(fams, 'hearth_gpu_utilization_ratio', { gpu: '1' })).toBeUndefined();
    expect(value(fams, 'hearth_gpu_memory_used_bytes', { gpu: '0' })).toBe(6144 * MIB);
    expect(value(fams, 'hearth_gpu_memory_total_bytes', { gpu: '1' })).toBe(8192 * MIB);
    expect(value(fams, 'hearth_gpu_temperature_celsius', { gpu: '1' })).toBe(40);
    expect(value(fams, 'hearth_gpu_power_watts', { gpu: '0' })).toBe(180.5);
    expect(value(fams, 'hearth_gpu_power_watts', { gpu: '1' })).toBeUndefined();

    // The admins' status carries the same readings, and hearth's own VRAM.
    const status = app.commands.status({ platform: 'web', userId: 'web:root', admin: true, weight: 1, origin: null });
    expect(status.ok && status.value.gpu.state).toBe('ok');
    expect(status.ok && status.value.gpu.hearthMemoryBytes).toBe(5000 * MIB);
    const dash = await (await fetch(new URL('/api/status', web.url()))).json() as { gpu: { gpus: unknown[] } };
    expect(dash.gpu.gpus).toHaveLength(2);
  });

  it('answers only GET and HEAD', async () => {
    const res = await fetch(new URL('/metrics', web.url()), { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(405);
    const head = await fetch(new URL('/metrics', web.url()), { method: 'HEAD' });
    expect(head.status).toBe(200);
  });
});

describe('Prometheus metrics behind the console token', () => {
  it('needs the token like every console request, as a Bearer header', async () => {
    let web: WebAdapter | undefined;
    const token = 'metrics-token-0123456789abcdef';
    const { app, dataDir } = await simApp({
      config: { web: { port: 0, host: '127.0.0.1', token } },
      adapters: [(ctx) => (web = createWebAdapter(ctx))],
      monitoring: { run: twoGpus },
    });
    try {
      await app.start();
      const url = new URL('/metrics', web!.url());
      expect((await fetch(url)).status).toBe(401);
      const ok = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
      expect(parse(await ok.text()).has('hearth_jobs_total')).toBe(true);
      // A wrong token last: after it this address waits (backoff) before its tokens are checked again.
      expect((await fetch(url, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status).toBe(401);
    } finally {
      await app.close();
      app.store.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
