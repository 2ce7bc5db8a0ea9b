/**
 * A cluster on this machine for tests: GPU workers as their own processes (test/fixtures/cluster-worker.ts,
 * simulated runners that really sleep) and a coordinator in the test process (the real engine on a real
 * SQLite file, with the ClusterExecutor).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ClusterExecutor } from '../../src/cluster/index.js';
import { Engine } from '../../src/engine/engine.js';
import { SqliteStore } from '../../src/engine/store/sqlite-store.js';
import type { EngineEvent, JobKind } from '../../src/engine/types.js';
import type { SimModelSpec } from '../fixtures/sim-runner.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/cluster-worker.ts', import.meta.url));
const TSX = fileURLToPath(new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url));

export interface TestWorker {
  name: string;
  instance: string;
  child: ChildProcess;
  /** What it wrote on stderr (its log). */
  log(): string;
  /** kill -9. */
  kill(): Promise<void>;
  /** SIGTERM: it finishes its jobs and leaves. */
  stop(): Promise<void>;
}

export async function startWorker(opts: {
  redisUrl: string;
  name: string;
  models: SimModelSpec[];
  capacity?: number;
  heartbeatMs: number;
  /** Its fake nvidia-smi's answer to the GPU query (test/fixtures/cluster-worker.ts). */
  gpuCsv?: string;
  /** Run under `taskset -c CPU`: the worker pinned to one CPU. */
  cpu?: number;
  tlsCaFile?: string;
}): Promise<TestWorker> {
  const args = JSON.stringify({ redisUrl: opts.redisUrl, name: opts.name, capacity: opts.capacity ?? 1, heartbeatMs: opts.heartbeatMs, models: opts.models, ...(opts.gpuCsv ? { gpuCsv: opts.gpuCsv } : {}), ...(opts.tlsCaFile ? { tlsCaFile: opts.tlsCaFile } : {}) });
  const node = [process.execPath, '--import', TSX, FIXTURE, args];
  const [file, ...argv] = opts.cpu === undefined ? node : ['taskset', '-c', String(opts.cpu), ...node];
  const child = spawn(file!, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const instance = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /ready (\S+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`worker ${opts.name} exited (${code}) before it was ready: ${err}`)));
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    name: opts.name,
    instance,
    child,
    log: () => err,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface Coordinator {
  engine: Engine;
  executor: ClusterExecutor;
  store: SqliteStore;
  events: EngineEvent[];
  logs: string[];
  close(): Promise<void>;
}

export async function startCoordinator(opts: {
  redisUrl: string;
  dbPath: string;
  heartbeatMs: number;
  declaredModels?: Array<{ model: string; kind: JobKind }>;
  tlsCaFile?: string;
}): Promise<Coordinator> {
  const store = SqliteStore.open(opts.dbPath);
  const logs: string[] = [];
  const executor = new ClusterExecutor({
    redisUrl: opts.redisUrl,
    heartbeatMs: opts.heartbeatMs,
    ...(opts.tlsCaFile ? { tlsCaFile: opts.tlsCaFile } : {}),
    ...(opts.declaredModels ? { declaredModels: opts.declaredModels } : {}),
    log: (level, message) => logs.push(`${level}: ${message}`),
  });
  const engine = new Engine({
    store,
    executor,
    vramBudgetBytes: 100e9,
    limits: { maxQueuedPerUser: 100 },
    log: { info: (m) => logs.push(`info: ${m}`), warn: (m) => logs.push(`warn: ${m}`), error: (m) => logs.push(`error: ${m}`) },
  });
  const events: EngineEvent[] = [];
  engine.on((e) => events.push(e));
  await engine.start();
  return {
    engine,
    executor,
    store,
    events,
    logs,
    async close() {
      await engine.close();
      store.close();
    },
  };
}

/** Polls a condition (every 20 ms) until it holds; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The terminal events (result, failed, cancelled) of each job. */
export function endsByJob(events: readonly EngineEvent[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const e of events) {
    if (e.event.type !== 'result' && e.event.type !== 'failed' && e.event.type !== 'cancelled') continue;
    // A failure names its code and message, so a test's failure says why.
    const what = e.event.type === 'failed' ? `failed ${e.event.error.code}: ${e.event.error.message}` : e.event.type;
    out.set(e.jobId, [...(out.get(e.jobId) ?? []), what]);
  }
  return out;
}
