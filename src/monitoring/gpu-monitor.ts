import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Clock } from '../engine/clock.js';
import { APPS_ARGS, GPU_ARGS, firstLine, parseAppsCsv, parseGpuCsv, type GpuReading } from './nvidia-smi.js';

export type { GpuReading } from './nvidia-smi.js';

/**
 * Runs a program found on PATH with arguments (no shell) and resolves with its standard output.
 * Rejects when it cannot be run (an error with `code: 'ENOENT'` when it is not on PATH) or exits
 * non-zero (the error's `stdout`/`stderr` say why, as child_process does).
 */
export type CommandRunner = (file: string, args: readonly string[], opts: { signal: AbortSignal }) => Promise<string>;

/** What is known about the GPUs now. */
export interface GpuTelemetry {
  /**
   * `ok`: `gpus` holds the last reading. `missing`: nvidia-smi is not on PATH (no NVIDIA driver here),
   * so there is no GPU telemetry. `failed`: nvidia-smi ran and failed (`message` says how). `pending`:
   * not read yet. `off`: this hearth does not watch its GPU.
   */
  state: 'ok' | 'missing' | 'failed' | 'pending' | 'off';
  /** Why there is no reading (missing, failed, off), in words. */
  message?: string;
  /** When the last reading was taken (epoch ms), or null. */
  at: number | null;
  gpus: GpuReading[];
  /** VRAM used by hearth's own processes (this one and its GPU worker), all GPUs; null when unknown. */
  hearthMemoryBytes: number | null;
  pollSeconds: number;
}

/** Where the telemetry can be read and watched (the dashboard, /hearth status, /metrics). */
export interface GpuTelemetrySource {
  telemetry(): GpuTelemetry;
  /** Calls the listener after each reading. Returns the unsubscribe function. */
  onUpdate(listener: (t: GpuTelemetry) => void): () => void;
}

export interface GpuMonitorOptions {
  /** `monitoring.gpuPollSeconds`. */
  pollSeconds: number;
  /** Default: child_process.execFile with a 10 s timeout. */
  run?: CommandRunner;
  clock: Clock;
  log: { info(msg: string): void; warn(msg: string): void };
  /** Whether a process is hearth's own (default: this process and its descendants, from /proc). */
  isOwnProcess?: (pid: number) => boolean;
  onError?: (e: unknown) => void;
}

export const NVIDIA_SMI = 'nvidia-smi';

/**
 * child_process.execFile as a {@link CommandRunner}: no shell, a timeout, the program looked up on
 * the PATH of `env` (default: this process's environment).
 */
export function commandRunner(opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): CommandRunner {
  return (file, args, { signal }) =>
    new Promise((resolve, reject) => {
      signal?.throwIfAborted();
      const options = { timeout: opts.timeoutMs ?? 10_000, maxBuffer: 1 << 20, encoding: 'utf8' as const, ...(opts.env ? { env: opts.env } : {}) };
      // The abort is ours to handle, not execFile's: aborting a child whose spawn failed (nvidia-smi
      // missing) made Node signal pid 0 or a stale pid — SIGTERM to this whole process group. Only a
      // child that really runs is killed.
      const onAbort = (): void => {
        if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      const child = execFile(file, [...args], options, (error, stdout, stderr) => {
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(Object.assign(error, { stdout, stderr }));
        else resolve(stdout);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
}

export const execRunner: CommandRunner = commandRunner();

/**
 * Polls nvidia-smi every `pollSeconds` for each GPU's utilization, VRAM, temperature and power, and
 * for the VRAM of hearth's own processes. Without nvidia-smi it says so once in the log and stops;
 * a failing nvidia-smi is logged once per distinct failure and polled again (a driver can come back).
 */
export class GpuMonitor implements GpuTelemetrySource {
  readonly #o: GpuMonitorOptions;
  readonly #run: CommandRunner;
  readonly #isOwn: (pid: number) => boolean;
  readonly #stop = new AbortController();
  readonly #listeners = new Set<(t: GpuTelemetry) => void>();
  #state: GpuTelemetry;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<GpuTelemetry> | undefined;
  #lastProblem: string | undefined;
  #started = false;

  constructor(options: GpuMonitorOptions) {
    if (!(options.pollSeconds > 0)) throw new RangeError(`pollSeconds must be > 0; got ${options.pollSeconds}`);
    this.#o = options;
    this.#run = options.run ?? execRunner;
    this.#isOwn = options.isOwnProcess ?? isOwnProcess;
    this.#state = { state: 'pending', at: null, gpus: [], hearthMemoryBytes: null, pollSeconds: options.pollSeconds };
  }

  telemetry(): GpuTelemetry {
    return this.#state;
  }

  onUpdate(listener: (t: GpuTelemetry) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Reads now, then every `pollSeconds` until disposed (or until nvidia-smi turns out to be missing). */
  start(): void {
    if (this.#started || this.#stop.signal.aborted) return;
    this.#started = true;
    void this.#loop();
  }

  /** One reading now (a poll already under way is shared; none once disposed). */
  poll(): Promise<GpuTelemetry> {
    if (this.#stop.signal.aborted) return Promise.resolve(this.#state);
    this.#polling ??= this.#read().finally(() => (this.#polling = undefined));
    return this.#polling;
  }

  /** Stops polling; safe to call twice. */
  dispose(): void {
    this.#stop.abort();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
  }

  async #loop(): Promise<void> {
    const t = await this.poll();
    if (this.#stop.signal.aborted || t.state === 'missing') return;
    this.#timer = setTimeout(() => void this.#loop(), this.#o.pollSeconds * 1000);
    this.#timer.unref();
  }

  async #read(): Promise<GpuTelemetry> {
    const signal = this.#stop.signal;
    let next: GpuTelemetry;
    try {
      const gpus = parseGpuCsv(await this.#run(NVIDIA_SMI, GPU_ARGS, { signal }));
      next = { state: 'ok', at: this.#o.clock.now(), gpus, hearthMemoryBytes: await this.#ownMemory(signal), pollSeconds: this.#o.pollSeconds };
    } catch (e) {
      if (signal.aborted) return this.#state;
      next = { ...problem(e), at: null, gpus: [], hearthMemoryBytes: null, pollSeconds: this.#o.pollSeconds };
    }
    if (signal.aborted) return this.#state;
    this.#report(next);
    this.#state = next;
    for (const l of this.#listeners) {
      try {
        l(next);
      } catch (e) {
        this.#o.onError?.(e);
      }
    }
    return next;
  }

  /** The VRAM of hearth's processes, or null when nvidia-smi cannot list processes here. */
  async #ownMemory(signal: AbortSignal): Promise<number | null> {
    try {
      const apps = parseAppsCsv(await this.#run(NVIDIA_SMI, APPS_ARGS, { signal }));
      let sum = 0;
      for (const a of apps) {
        if (!this.#isOwn(a.pid)) continue;
        if (a.memoryBytes === null) return null;
        sum += a.memoryBytes;
      }
      return sum;
    } catch {
      return null;
    }
  }

  /** Logs a change: the first problem of its kind (once), and the recovery after one. */
  #report(next: GpuTelemetry): void {
    if (next.state === 'ok') {
      if (this.#lastProblem !== undefined) this.#o.log.info(`GPU telemetry is back: nvidia-smi reports ${next.gpus.length} GPU(s)`);
      else if (this.#state.state === 'pending') this.#o.log.info(`GPU telemetry: nvidia-smi reports ${next.gpus.length} GPU(s), read every ${this.#o.pollSeconds} s`);
      this.#lastProblem = undefined;
      return;
    }
    const message = next.message ?? next.state;
    if (message === this.#lastProblem) return;
    this.#lastProblem = message;
    this.#o.log.warn(`no GPU telemetry: ${message}`);
  }
}

function problem(e: unknown): { state: 'missing' | 'failed'; message: string } {
  const err = e as (NodeJS.ErrnoException & { stdout?: unknown; stderr?: unknown; killed?: boolean }) | undefined;
  if (err?.code === 'ENOENT') {
    return { state: 'missing', message: 'nvidia-smi was not found on PATH (no NVIDIA driver on this machine?)' };
  }
  const said = [err?.stdout, err?.stderr].filter((s): s is string => typeof s === 'string').map(firstLine).find((s) => s !== '');
  const why = err?.killed ? 'it did not answer in time' : (said ?? (e instanceof Error ? e.message : String(e)));
  return { state: 'failed', message: `nvidia-smi failed: ${why}` };
}

/** This process or one of its descendants (the GPU worker), from the parent links in /proc. */
export function isOwnProcess(pid: number): boolean {
  let p = pid;
  for (let i = 0; i < 32 && p > 1; i++) {
    if (p === process.pid) return true;
    const parent = parentPid(p);
    if (parent === undefined) return false;
    p = parent;
  }
  return false;
}

function parentPid(pid: number): number | undefined {
  try {
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/** Telemetry for a hearth that does not watch its GPU. */
export function telemetryOff(message = 'GPU telemetry is not enabled on this hearth'): GpuTelemetry {
  return { state: 'off', message, at: null, gpus: [], hearthMemoryBytes: null, pollSeconds: 0 };
}
