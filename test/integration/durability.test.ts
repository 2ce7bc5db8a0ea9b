import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { ChildProcessExecutor } from '../../src/worker/index.js';
import { SqliteStore } from '../../src/engine/store/sqlite-store.js';
import type { EngineEvent, JobSpec } from '../../src/engine/types.js';

const dir = mkdtempSync(join(tmpdir(), 'hearth-durability-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SETTINGS = {
  sim: {
    models: [
      { model: 'image', kind: 'image', stepMs: 40 },
      { model: 'chat', kind: 'chat', stepMs: 20, maxBatch: 4 },
    ],
  },
};
const HOST = fileURLToPath(new URL('../fixtures/engine-host.ts', import.meta.url));
const DELIVERY_HOST = fileURLToPath(new URL('../fixtures/delivery-host.ts', import.meta.url));

interface HostLine {
  jobId?: string;
  event?: { type: string };
  workerPid?: number;
  submitted?: string;
  final?: Array<{ id: string; userId: string; state: string; attempts: number; crashes: number; transitions: string[]; error: { code: string; message: string } | null }>;
}

function runHost(db: string, jobs: JobSpec[], exitWhenIdle: boolean): { child: ChildProcess; lines: AsyncIterable<HostLine> } {
  const args = ['--import', 'tsx', HOST, db, JSON.stringify(SETTINGS), JSON.stringify(jobs)];
  if (exitWhenIdle) args.push('--exit-when-idle');
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const rl = createInterface({ input: child.stdout! });
  async function* lines(): AsyncGenerator<HostLine> {
    for await (const l of rl) {
      if (l.startsWith('{')) yield JSON.parse(l) as HostLine;
    }
  }
  return { child, lines: lines() };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('durability with real processes', () => {
  it('after kill -9 of the main process, every job completes exactly once on restart', async () => {
    const db = join(dir, 'kill9.db');
    const jobs: JobSpec[] = [
      { kind: 'image', model: 'image', userId: 'ann', payload: { steps: 30 } },
      { kind: 'image', model: 'image', userId: 'ann', payload: { steps: 3 } },
      { kind: 'chat', model: 'chat', userId: 'ben', payload: { steps: 4 } },
      { kind: 'image', model: 'image', userId: 'cat', payload: { steps: 3 } },
    ];
    const first = runHost(db, jobs, false);
    let workerPid = 0;
    let submitted = 0;
    let progress = 0;
    for await (const line of first.lines) {
      if (line.workerPid) workerPid = line.workerPid;
      if (line.submitted) submitted++;
      if (line.event?.type === 'progress') progress++;
      // Kill once all are queued and a job is mid-run.
      if (submitted === 4 && progress >= 3) break;
    }
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    expect(workerPid).toBeGreaterThan(0);
    // The GPU worker notices its parent is gone and leaves too.
    await waitFor(() => !alive(workerPid), 'the orphaned worker to exit');

    const second = runHost(db, [], true);
    let final: HostLine['final'];
    for await (const line of second.lines) if (line.final) final = line.final;
    await new Promise((r) => second.child.once('exit', r));

    expect(final).toHaveLength(4);
    for (const job of final!) {
      expect(job.state, `job of ${job.userId}`).toBe('done');
      // Completed once, never twice.
      expect(job.transitions.filter((t) => t === 'done')).toHaveLength(1);
    }
    // The job that was running is begun again; a kill of the main process counts no crash against it.
    const interrupted = final!.filter((j) => j.attempts === 2);
    expect(interrupted.length).toBeGreaterThanOrEqual(1);
    for (const j of final!) expect(j.crashes, `crashes of ${j.userId}'s job`).toBe(0);
  });

  it('after two kill -9s of the main process mid-job, every job still completes once', async () => {
    const db = join(dir, 'kill9-twice.db');
    const jobs: JobSpec[] = ['ann', 'ben', 'cat'].flatMap((userId) => [
      { kind: 'image' as const, model: 'image', userId, payload: { steps: 12 } },
      { kind: 'image' as const, model: 'image', userId, payload: { steps: 12 } },
    ]);
    const killMidJob = async (host: ReturnType<typeof runHost>, expectSubmitted: number): Promise<void> => {
      let submitted = 0;
      let progress = 0;
      for await (const line of host.lines) {
        if (line.submitted) submitted++;
        if (line.event?.type === 'progress') progress++;
        if (submitted === expectSubmitted && progress >= 3) break;
      }
      host.child.kill('SIGKILL');
      await new Promise((r) => host.child.once('exit', r));
    };
    await killMidJob(runHost(db, jobs, false), 6);
    await killMidJob(runHost(db, [], false), 0);

    const last = runHost(db, [], true);
    let final: HostLine['final'];
    for await (const line of last.lines) if (line.final) final = line.final;
    await new Promise((r) => last.child.once('exit', r));

    expect(final).toHaveLength(6);
    for (const job of final!) {
      expect(job.state, `job of ${job.userId}`).toBe('done');
      expect(job.crashes).toBe(0);
      expect(job.transitions.filter((t) => t === 'done')).toHaveLength(1);
    }
  });

  it('restarts a worker that aborts mid-job, retries the job, and fails it after a second abort', async () => {
    const store = SqliteStore.open(join(dir, 'abort.db'));
    const executor = new ChildProcessExecutor({
      runnerModules: [new URL('../fixtures/sim-runner-module.ts', import.meta.url).href],
      settings: SETTINGS,
    });
    const engine = new Engine({ store, executor, vramBudgetBytes: 100e9, limits: { maxQueuedPerUser: 10 } });
    const events: EngineEvent[] = [];
    engine.on((e) => events.push(e));
    await engine.start();
    const marker = join(dir, 'crashed-once');
    const once = engine.submit({ kind: 'image', model: 'image', userId: 'once', payload: { steps: 4, crashAtStep: 2, crashOnceMarker: marker } });
    const always = engine.submit({ kind: 'image', model: 'image', userId: 'always', payload: { steps: 4, crashAtStep: 2 } });
    const fine = engine.submit({ kind: 'chat', model: 'chat', userId: 'fine', payload: { steps: 3 } });
    if (!once.ok || !always.ok || !fine.ok) throw new Error('refused');
    await engine.whenIdle();

    // It also restarts (without blame) when the other job takes the worker down while it is begun.
    expect(store.getJob(once.value.id)).toMatchObject({ state: 'done', crashes: 1 });
    expect(store.getJob(once.value.id)!.attempts).toBeGreaterThanOrEqual(2);
    const failed = store.getJob(always.value.id)!;
    expect(failed.state).toBe('failed');
    expect(failed.error?.code).toBe('WORKER_CRASHED');
    expect(failed.error?.code === 'WORKER_CRASHED' ? failed.error.facts?.crashes : undefined).toBe(2);
    expect(failed.error?.message).toMatch(/stopped the GPU worker twice/);
    // The record counts both crashes it took part in, the one that failed it included (as its facts say).
    expect(failed.crashes).toBe(2);
    expect(events.some((e) => e.jobId === always.value.id && e.event.type === 'failed')).toBe(true);
    expect(store.getJob(fine.value.id)?.state).toBe('done');
    // One start, plus one restart per abort (three aborts in all).
    expect(executor.starts).toBe(4);
    await engine.close();
    store.close();
  });
});

interface DeliveryLine {
  holding?: string;
  delivered?: string;
  submitted?: string;
  workerPid?: number;
  summary?: { shown: Array<{ jobId: string; phase: string }>; undelivered: string[] };
}

function runDeliveryHost(db: string, jobs: JobSpec[], mode: 'hold' | 'deliver'): { child: ChildProcess; lines: AsyncIterable<DeliveryLine> } {
  const args = ['--import', 'tsx', DELIVERY_HOST, db, JSON.stringify(SETTINGS), JSON.stringify(jobs), mode];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const rl = createInterface({ input: child.stdout! });
  async function* lines(): AsyncGenerator<DeliveryLine> {
    for await (const l of rl) if (l.startsWith('{')) yield JSON.parse(l) as DeliveryLine;
  }
  return { child, lines: lines() };
}

describe('delivery with real processes', () => {
  it('sends a result that was stored but not yet sent when hearth was killed, once, after the restart', async () => {
    const db = join(dir, 'delivery.db');
    const jobs: JobSpec[] = [
      { kind: 'image', model: 'image', userId: 'ann', payload: { steps: 2 }, origin: { to: 'ann-reply' } },
      { kind: 'chat', model: 'chat', userId: 'ben', payload: { steps: 2 }, origin: { to: 'ben-reply' } },
    ];
    // The platform is sending the image's final message when hearth is killed.
    const first = runDeliveryHost(db, jobs, 'hold');
    let workerPid = 0;
    const held = new Set<string>();
    for await (const line of first.lines) {
      if (line.workerPid) workerPid = line.workerPid;
      if (line.holding) held.add(line.holding);
      if (held.size === 2) break;
    }
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    await waitFor(() => workerPid === 0 || !alive(workerPid), 'the orphaned worker to exit');
    const store = SqliteStore.open(db);
    const ended = store.listJobs();
    store.close();
    expect(ended.map((j) => [j.state, j.deliveredAt])).toEqual([
      ['done', null],
      ['done', null],
    ]);

    // After the restart both results are sent (each once), and recorded as delivered.
    const second = runDeliveryHost(db, [], 'deliver');
    let summary: DeliveryLine['summary'];
    for await (const line of second.lines) if (line.summary) summary = line.summary;
    await new Promise((r) => second.child.once('exit', r));
    expect(summary?.shown).toEqual(ended.map((j) => ({ jobId: j.id, phase: 'done' })));
    expect(summary?.undelivered).toEqual([]);

    // Delivered means done: a third start sends nothing again.
    const third = runDeliveryHost(db, [], 'deliver');
    let again: DeliveryLine['summary'];
    for await (const line of third.lines) if (line.summary) again = line.summary;
    await new Promise((r) => third.child.once('exit', r));
    expect(again).toEqual({ shown: [], undelivered: [] });
    const after = SqliteStore.open(db);
    for (const j of after.listJobs()) expect(j.deliveredAt, j.id).not.toBeNull();
    after.close();
  });
});
