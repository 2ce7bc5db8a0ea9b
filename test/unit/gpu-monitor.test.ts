/**
 * GPU telemetry from nvidia-smi: its real CSV (one and two GPUs, "[N/A]" fields), a fake nvidia-smi
 * script found on PATH, the tool missing or failing, hearth's own processes, and the poll loop.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/engine/clock.js';
import { GpuMonitor, commandRunner, isOwnProcess, type CommandRunner, type GpuTelemetry } from '../../src/monitoring/gpu-monitor.js';
import { csvNumber, parseAppsCsv, parseGpuCsv } from '../../src/monitoring/nvidia-smi.js';
import { gpuTelemetryLines } from '../../src/monitoring/telemetry-text.js';

const MIB = 2 ** 20;
const ONE_GPU = '0, 87, 10240, 24564, 67, 215.34\n';
const TWO_GPUS = '0, 87, 10240, 24564, 67, 215.34\n1, [N/A], 512, 8192, [N/A], [Not Supported]\n';
const DRIVER_DOWN = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n";

function logSpy(): { info: string[]; warn: string[]; log: { info(m: string): void; warn(m: string): void } } {
  const info: string[] = [];
  const warn: string[] = [];
  return { info, warn, log: { info: (m) => info.push(m), warn: (m) => warn.push(m) } };
}

/** A runner answering like nvidia-smi from the given outputs (an Error is thrown as it is). */
function fakeRunner(out: { gpus: string | Error; apps?: string | Error }): CommandRunner & { calls: string[][] } {
  const calls: string[][] = [];
  const run = async (file: string, args: readonly string[]): Promise<string> => {
    calls.push([file, ...args]);
    const answer = args.some((a) => a.startsWith('--query-compute-apps')) ? (out.apps ?? '') : out.gpus;
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return Object.assign(run, { calls });
}

describe('nvidia-smi CSV', () => {
  it('reads one GPU in units hearth uses (ratio, bytes, °C, W)', () => {
    expect(parseGpuCsv(ONE_GPU)).toEqual([
      { index: 0, utilization: 0.87, memoryUsedBytes: 10240 * MIB, memoryTotalBytes: 24564 * MIB, temperatureCelsius: 67, powerWatts: 215.34 },
    ]);
  });

  it('reads several GPUs, and "[N/A]" or "[Not Supported]" fields as unknown, not zero', () => {
    const gpus = parseGpuCsv(TWO_GPUS);
    expect(gpus.map((g) => g.index)).toEqual([0, 1]);
    expect(gpus[1]).toEqual({ index: 1, utilization: null, memoryUsedBytes: 512 * MIB, memoryTotalBytes: 8192 * MIB, temperatureCelsius: null, powerWatts: null });
    expect(csvNumber(' [N/A] ')).toBeNull();
    expect(csvNumber('N/A')).toBeNull();
    expect(csvNumber('')).toBeNull();
    expect(csvNumber('42.5')).toBe(42.5);
  });

  it('refuses output that has no GPU line (an error message instead of CSV)', () => {
    expect(() => parseGpuCsv(DRIVER_DOWN)).toThrow(/no GPU line: NVIDIA-SMI has failed/);
    expect(parseGpuCsv('')).toEqual([]);
  });

  it('reads the compute processes, with "[N/A]" memory and no processes at all', () => {
    expect(parseAppsCsv('1234, 9800\n5678, [N/A]\n')).toEqual([
      { pid: 1234, memoryBytes: 9800 * MIB },
      { pid: 5678, memoryBytes: null },
    ]);
    expect(parseAppsCsv('')).toEqual([]);
    expect(parseAppsCsv('No running processes found\n')).toEqual([]);
  });
});

describe('GpuMonitor', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** A folder holding a fake `nvidia-smi` script that prints `gpus` (or fails with `fail`). */
  function fakeTool(opts: { gpus?: string; apps?: string; fail?: string }): string {
    const dir = mkdtempSync(join(tmpdir(), 'hearth-smi-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'gpus.csv'), opts.gpus ?? '');
    writeFileSync(join(dir, 'apps.csv'), opts.apps ?? '');
    writeFileSync(join(dir, 'fail.txt'), opts.fail ?? '');
    const script = opts.fail
      ? `#!/bin/sh\ncat "${dir}/fail.txt"\nexit 9\n`
      : `#!/bin/sh\ncase "$1" in\n  --query-gpu=*) cat "${dir}/gpus.csv" ;;\n  --query-compute-apps=*) cat "${dir}/apps.csv" ;;\n  *) exit 2 ;;\nesac\n`;
    writeFileSync(join(dir, 'nvidia-smi'), script);
    chmodSync(join(dir, 'nvidia-smi'), 0o755);
    return dir;
  }

  const monitor = (run: CommandRunner, extra: { isOwnProcess?: (pid: number) => boolean; pollSeconds?: number } = {}) => {
    const spy = logSpy();
    const m = new GpuMonitor({ pollSeconds: extra.pollSeconds ?? 5, run, clock: new VirtualClock(1_000), log: spy.log, isOwnProcess: extra.isOwnProcess ?? (() => false) });
    return { m, ...spy };
  };

  it('reads two GPUs from a fake nvidia-smi found on PATH, with the VRAM of its own processes', async () => {
    const dir = fakeTool({ gpus: TWO_GPUS, apps: `${process.pid}, 3000\n999999, 5000\n` });
    const { m, info, warn } = monitor(commandRunner({ env: { PATH: `${dir}:/usr/bin:/bin` } }), { isOwnProcess });
    const t = await m.poll();
    expect(t.state).toBe('ok');
    expect(t.at).toBe(1_000);
    expect(t.gpus).toHaveLength(2);
    expect(t.gpus[0]!.utilization).toBe(0.87);
    expect(t.gpus[1]!.powerWatts).toBeNull();
    expect(t.hearthMemoryBytes).toBe(3000 * MIB);
    expect(m.telemetry()).toBe(t);
    expect(warn).toEqual([]);
    expect(info).toEqual(['GPU telemetry: nvidia-smi reports 2 GPU(s), read every 5 s']);
    expect(gpuTelemetryLines(t)).toEqual([
      'GPU 0: 87% busy · 10.0 of 24.0 GB VRAM · 67 °C · 215 W',
      'GPU 1: 0.5 of 8.0 GB VRAM',
      "hearth's own processes use 2.9 GB of VRAM.",
    ]);
    m.dispose();
    m.dispose();
  });

  it('says once that nvidia-smi is not on PATH, and stops polling', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'hearth-nopath-'));
    dirs.push(empty);
    const real = commandRunner({ env: { PATH: empty } });
    let calls = 0;
    const counted: CommandRunner = (file, args, opts) => {
      calls++;
      return real(file, args, opts);
    };
    const { m, warn } = monitor(counted, { pollSeconds: 0.01 });
    const first = new Promise<GpuTelemetry>((resolve) => m.onUpdate(resolve));
    m.start();
    const t = await first;
    expect(t.state).toBe('missing');
    expect(t.gpus).toEqual([]);
    expect(t.message).toMatch(/nvidia-smi was not found on PATH/);
    await m.poll(); // the reading under way
    await m.poll(); // a new one
    expect(warn).toHaveLength(1);
    expect(warn[0]).toMatch(/^no GPU telemetry: nvidia-smi was not found on PATH/);
    // The loop ended after the first reading: only the manual poll ran the tool again.
    expect(calls).toBe(2);
    expect(gpuTelemetryLines(m.telemetry())[0]).toMatch(/^No GPU telemetry: nvidia-smi was not found on PATH/);
    m.dispose();
  });

  it('reports a failing nvidia-smi in its own words, once, and recovers when it answers again', async () => {
    const dir = fakeTool({ fail: DRIVER_DOWN });
    const { m, warn, info } = monitor(commandRunner({ env: { PATH: `${dir}:/usr/bin:/bin` } }));
    const t = await m.poll();
    expect(t.state).toBe('failed');
    expect(t.message).toBe("nvidia-smi failed: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.");
    await m.poll();
    expect(warn).toHaveLength(1);
    m.dispose();

    const flaky = { gpus: new Error('boom') as string | Error };
    const runner: CommandRunner = async (file, args) => {
      const out = flaky.gpus;
      if (out instanceof Error) throw out;
      return args[0]!.startsWith('--query-gpu') ? out : '';
    };
    const second = monitor(runner);
    expect((await second.m.poll()).state).toBe('failed');
    flaky.gpus = ONE_GPU;
    const back = await second.m.poll();
    expect(back.state).toBe('ok');
    expect(back.hearthMemoryBytes).toBe(0);
    expect(second.info).toEqual(['GPU telemetry is back: nvidia-smi reports 1 GPU(s)']);
    expect(info).toEqual([]);
    second.m.dispose();
  });

  it('keeps the GPU readings when the process list fails, with hearth\'s VRAM unknown', async () => {
    const run = fakeRunner({ gpus: ONE_GPU, apps: new Error('not supported') });
    const { m } = monitor(run);
    const t = await m.poll();
    expect(t.state).toBe('ok');
    expect(t.gpus).toHaveLength(1);
    expect(t.hearthMemoryBytes).toBeNull();
    expect(run.calls[0]).toEqual(['nvidia-smi', '--query-gpu=index,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw', '--format=csv,noheader,nounits']);
    expect(run.calls[1]).toEqual(['nvidia-smi', '--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits']);
    m.dispose();
  });

  it('polls every pollSeconds until disposed, and a listener that throws does not stop it', async () => {
    const run = fakeRunner({ gpus: ONE_GPU, apps: '4242, 100\n' });
    const errors: unknown[] = [];
    const m = new GpuMonitor({ pollSeconds: 0.02, run, clock: new VirtualClock(), log: logSpy().log, isOwnProcess: (pid) => pid === 4242, onError: (e) => errors.push(e) });
    m.onUpdate(() => {
      throw new Error('listener bug');
    });
    const three = new Promise<GpuTelemetry>((resolve) => {
      let n = 0;
      m.onUpdate((t) => {
        if (++n === 3) resolve(t);
      });
    });
    m.start();
    m.start();
    const t = await three;
    expect(t.hearthMemoryBytes).toBe(100 * MIB);
    expect(errors.length).toBeGreaterThanOrEqual(3);
    m.dispose();
    m.dispose();
    const calls = run.calls.length;
    // Disposed: a poll asked for now changes nothing and tells nobody.
    const after = await m.poll();
    expect(after).toBe(m.telemetry());
    expect(run.calls.length).toBe(calls);
  });

  it("knows hearth's own processes: itself and its children, not others", async () => {
    expect(isOwnProcess(process.pid)).toBe(true);
    expect(isOwnProcess(1)).toBe(false);
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      await new Promise<void>((resolve) => child.once('spawn', () => resolve()));
      expect(isOwnProcess(child.pid!)).toBe(true);
    } finally {
      child.kill();
    }
  });
});
