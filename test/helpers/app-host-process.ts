/**
 * The test side of test/fixtures/app-host.ts: starts a whole hearth in a child process (tsx), reads
 * what it prints, waits for conditions on it, and kills it with SIGKILL (or stops it cleanly). Also
 * reads the worker's step log and the store's tables after a kill, on a read-only connection.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { AppHostSpec } from '../fixtures/app-host.js';

const HOST = fileURLToPath(new URL('../fixtures/app-host.ts', import.meta.url));

export interface HostLine {
  ready?: boolean;
  pid?: number;
  job?: string;
  user?: string;
  type?: string;
  reported?: string;
  message?: string;
  closed?: boolean;
}

export class AppHost {
  readonly child: ChildProcess;
  readonly lines: HostLine[] = [];
  readonly exited: Promise<number | null>;
  #stderr = '';

  private constructor(child: ChildProcess) {
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (l.startsWith('{')) this.lines.push(JSON.parse(l) as HostLine);
    });
    child.stderr!.on('data', (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString()).slice(-4000);
    });
  }

  /** Starts a host and waits until it says it is ready (adapter logged in, engine started). */
  static async start(spec: AppHostSpec, readyMs = 60_000): Promise<AppHost> {
    const child = spawn(process.execPath, ['--import', 'tsx', HOST], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, HEARTH_APP_HOST: JSON.stringify(spec) },
    });
    const host = new AppHost(child);
    await host.until(() => host.lines.some((l) => l.ready), 'the app host to be ready', readyMs);
    return host;
  }

  /** The engine events printed so far (optionally of one type). */
  events(type?: string): HostLine[] {
    return this.lines.filter((l) => l.job !== undefined && (type === undefined || l.type === type));
  }

  /** Handler errors the host printed. */
  get reported(): HostLine[] {
    return this.lines.filter((l) => l.reported !== undefined);
  }

  /** Polls until `cond` holds; fails (with the host's last stderr) after `ms`, or when the host died. */
  async until(cond: () => boolean, what: string, ms = 90_000): Promise<void> {
    const deadline = Date.now() + ms;
    let dead = false;
    void this.exited.then(() => (dead = true));
    while (!cond()) {
      if (dead) throw new Error(`the app host exited while waiting for ${what}: ${this.#stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}; stderr: ${this.#stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** kill -9, and waits for the process to be gone. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** A clean stop (app.close()); waits for the process to exit. */
  async stop(): Promise<void> {
    this.child.stdin!.write('stop\n');
    await this.exited;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls until `cond` holds. */
export async function until(cond: () => boolean, what: string, ms = 90_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface StepLogLine {
  ev: 'hello' | 'begin' | 'step';
  pid?: number;
  job?: string;
  n?: number;
}

/** The worker's step log (see test/fixtures/fault-runner-module.ts); a line cut by a kill is skipped. */
export function readStepLog(path: string): StepLogLine[] {
  if (!existsSync(path)) return [];
  const out: StepLogLine[] = [];
  for (const l of readFileSync(path, 'utf8').split('\n')) {
    try {
      if (l) out.push(JSON.parse(l) as StepLogLine);
    } catch {
      // A partial last line (the worker was killed while writing it).
    }
  }
  return out;
}

/** The pid of the newest GPU worker, from its hello in the step log. */
export function workerPid(stepLog: string): number | undefined {
  return readStepLog(stepLog)
    .filter((l) => l.ev === 'hello')
    .at(-1)?.pid;
}

/** A file gate (see the runner module): hold steps of `model` whose payload contains `match` before `step`. */
export class FileGate {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }
  hold(...rules: Array<{ model: string; step: number; match: string }>): void {
    writeFileSync(join(this.dir, 'hold.json'), JSON.stringify(rules));
  }
  release(): void {
    rmSync(join(this.dir, 'hold.json'), { force: true });
  }
  /** True once a job has been stopped at the hold (its id is in the file's name). */
  reached(jobId?: string): boolean {
    if (jobId) return existsSync(join(this.dir, `reached-${jobId}`));
    return readdirNames(this.dir).some((n) => n.startsWith('reached-'));
  }
  reachedJobs(): string[] {
    return readdirNames(this.dir)
      .filter((n) => n.startsWith('reached-'))
      .map((n) => n.slice('reached-'.length));
  }
}

function readdirNames(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Runs `fn` on a read-only connection to the store (the host may be running: WAL lets us read). */
export function readDb<T>(dbPath: string, fn: (db: Database.Database) => T): T {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** Fields of /proc/PID/stat after "pid (comm)" (state is [0], ppid [1], starttime [19]), or undefined when gone. */
function statOf(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: read after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** A process's parent pid (Linux /proc), or undefined when it is gone. */
export function parentOf(pid: number): number | undefined {
  const ppid = Number(statOf(pid)?.[1]);
  return Number.isInteger(ppid) ? ppid : undefined;
}

/** When a process started (clock ticks since boot): with the pid, it names one process. */
export function startOf(pid: number): string | undefined {
  return statOf(pid)?.[19];
}
