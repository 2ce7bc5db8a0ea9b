/**
 * The GPU worker protocol, checked at both ends, on real child processes: the main process's side
 * against a worker that breaks the protocol on purpose (test/fixtures/rogue-worker.ts), and hearth's
 * real worker entry against a parent that sends it nonsense or goes away mid-step.
 */
import { fork, spawn, type ChildProcess, type Serializable } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { HearthError } from '../../src/engine/types.js';
import { ChildProcessExecutor, workerEntry } from '../../src/worker/index.js';

const dir = mkdtempSync(join(tmpdir(), 'hearth-worker-protocol-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CHATTY = new URL('../fixtures/chatty-runner-module.ts', import.meta.url).href;

describe('the main process, when the GPU worker breaks the protocol', () => {
  const cases = [
    { what: 'a null message', mode: 'null', got: /got null/ },
    { what: '`error: null` in a response', mode: 'error-null', got: /error: null/ },
    { what: 'an unknown log level', mode: 'log-level', got: /'fatal'/ },
    { what: 'an unknown message type', mode: 'unknown-type', got: /'gossip'/ },
    { what: 'a response with fields of the wrong type', mode: 'wrong-field-types', got: /ok: 'yes'/ },
    { what: 'an answer that does not fit the call', mode: 'wrong-value', got: /loaded: 'yes'/ },
    { what: 'an event with fields of the wrong type', mode: 'bad-event', got: /text: 42/ },
    { what: 'a second ready', mode: 'second-ready', got: /type: 'ready'/ },
  ];

  it.each(cases)(
    'treats $what as a worker fault: logged with what was expected and what came, the call rejects with WORKER_CRASHED, a fresh worker serves the next call',
    async ({ mode, got }) => {
      const logs: { level: string; message: string }[] = [];
      const crashes: string[] = [];
      const executor = new ChildProcessExecutor({
        runnerModules: [],
        settings: null,
        entry: new URL('../fixtures/rogue-worker.ts', import.meta.url),
        env: { ROGUE_MODE: mode },
        log: (level, message) => logs.push({ level, message }),
      });
      executor.onCrash((reason) => crashes.push(reason));
      try {
        expect(await executor.describe()).toEqual([{ model: 'm', kind: 'chat', maxBatch: 1, vramBytes: 0 }]);

        const error: unknown = await executor.load('m').then(
          () => 'resolved',
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(HearthError);
        expect(error).toMatchObject({ code: 'WORKER_CRASHED', facts: { cause: 'protocol' } });
        expect((error as HearthError).message).toMatch(/broke the protocol: expected .+; got /);

        const errors = logs.filter((l) => l.level === 'error');
        expect(errors).toHaveLength(1);
        expect(errors[0]!.message).toMatch(/expected /);
        expect(errors[0]!.message).toMatch(got);
        // What a faulty worker says is not believed, its log lines included.
        expect(logs.some((l) => l.message === 'something odd')).toBe(false);
        expect(crashes).toHaveLength(1);

        expect(await executor.describe()).toHaveLength(1);
        expect(executor.starts).toBe(2);
      } finally {
        await executor.close();
      }
    },
  );
});

/** hearth's real worker entry, forked as the executor forks it, with its stderr kept. */
function startWorker(): { child: ChildProcess; messages: unknown[]; stderr: () => string; exited: Promise<number | null> } {
  const { path, execArgv } = workerEntry();
  const child = fork(path, [], { execArgv, serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  const messages: unknown[] = [];
  let stderr = '';
  child.on('message', (m) => messages.push(m));
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, messages, stderr: () => stderr, exited };
}

async function waitFor<T>(find: () => T | undefined, what: string, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

type Reply = { type: string; id?: number; ok?: boolean; level?: string; message?: string; error?: { code: string; facts?: Record<string, unknown> } };
const replyTo = (messages: unknown[], id: number): Reply | undefined =>
  (messages as Reply[]).find((m) => m.type === 'response' && m.id === id);

describe('the GPU worker process, when its parent sends what the protocol does not allow', () => {
  it('reports a null message in a log line instead of crashing, and keeps serving', async () => {
    const w = startWorker();
    try {
      // Node's types forbid it; nothing on the wire does.
      w.child.send(null as unknown as Serializable);
      const log = await waitFor(() => (w.messages as Reply[]).find((m) => m.type === 'log'), 'a log line');
      expect(log.level).toBe('error');
      expect(log.message).toMatch(/breaks the protocol: expected .+; got null/);

      w.child.send({ type: 'init', init: { runnerModules: [CHATTY], settings: {} } });
      await waitFor(() => (w.messages as Reply[]).find((m) => m.type === 'ready'), 'ready');
      w.child.send({ type: 'request', id: 1, request: { op: 'describe' } });
      expect(await waitFor(() => replyTo(w.messages, 1), 'the describe answer')).toMatchObject({ ok: true, value: [{ model: 'chatty' }] });
      expect(w.child.exitCode).toBeNull();
    } finally {
      w.child.kill('SIGKILL');
    }
  });

  it('answers an unknown op with an INVALID_INPUT error naming the ops it knows, not with ok', async () => {
    const w = startWorker();
    try {
      w.child.send({ type: 'request', id: 7, request: { op: 'frobnicate' } });
      const reply = await waitFor(() => replyTo(w.messages, 7), 'the answer to call 7');
      expect(reply.ok).toBe(false);
      expect(reply.error?.code).toBe('INVALID_INPUT');
      expect(reply.error?.facts?.received).toMatch(/frobnicate/);
      expect(reply.error?.facts?.ops).toEqual(['describe', 'load', 'unload', 'begin', 'step', 'end', 'abort']);
    } finally {
      w.child.kill('SIGKILL');
    }
  });

  it('answers a request with fields of the wrong type with an INVALID_INPUT error for that call', async () => {
    const w = startWorker();
    try {
      w.child.send({ type: 'request', id: 8, request: { op: 'step', model: 'chatty', jobIds: 'j' } });
      const reply = await waitFor(() => replyTo(w.messages, 8), 'the answer to call 8');
      expect(reply).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT' } });
      expect(reply.error?.facts?.expected).toMatch(/jobIds/);
      expect(w.child.exitCode).toBeNull();
    } finally {
      w.child.kill('SIGKILL');
    }
  });
});

describe('the GPU worker process, when its parent goes away mid-step', () => {
  it('closes its runners and exits 0 with nothing on stderr when the channel closes while it streams', async () => {
    const w = startWorker();
    const marker = join(dir, 'disposed-on-disconnect');
    w.child.send({ type: 'init', init: { runnerModules: [CHATTY], settings: { disposedMarker: marker } } });
    await waitFor(() => (w.messages as Reply[]).find((m) => m.type === 'ready'), 'ready');
    w.child.send({ type: 'request', id: 1, request: { op: 'step', model: 'chatty', jobIds: ['j'] } });
    await waitFor(() => (w.messages as Reply[]).find((m) => m.type === 'event'), 'a streamed token');
    w.child.disconnect();
    expect(await w.exited).toBe(0);
    expect(w.stderr()).toBe('');
    expect(existsSync(marker)).toBe(true);
  });

  it('closes its runners and leaves with nothing on stderr when its parent is killed with -9 while it streams (EPIPE)', async () => {
    const stderrFile = join(dir, 'worker-stderr.txt');
    const marker = join(dir, 'disposed-on-kill');
    const { path, execArgv } = workerEntry(new URL('../fixtures/worker-parent.ts', import.meta.url));
    const parent = spawn(process.execPath, [...execArgv, path, stderrFile, marker], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    parent.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    const pid = Number(await waitFor(() => /^(\d+)\n/.exec(out)?.[1], 'the worker pid'));
    parent.kill('SIGKILL');

    await waitFor(() => (existsSync(marker) ? true : undefined), 'the runners disposed');
    await waitFor(() => (gone(pid) ? true : undefined), 'the worker to exit');
    expect(readFileSync(stderrFile, 'utf8')).toBe('');
  });
});

/** True when `pid` has exited (gone, or a zombie nobody reaped: containers' init may not). */
function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}
