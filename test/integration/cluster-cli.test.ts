/**
 * `hearth worker --config FILE` as a real process (bin/hearth.js), serving the tiny SD fixture through
 * its supervised GPU process (onnxruntime-node on CPU): it joins a coordinator (the real engine with the
 * ClusterExecutor, in this process) and draws an image placed on it; SIGTERM makes it leave cleanly.
 * A config without cluster.redisUrl, a bad cluster.workerName, and an unreachable Redis each end it
 * with its exit code and one plain line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IMAGE_DEFAULTS, DEFAULT_IMAGE_LIMITS, buildImagePayload } from '../../src/jobs/image.js';
import { writeTinySd } from '../fixtures/tiny-sd.js';
import { endsByJob, startCoordinator, waitFor } from '../helpers/cluster.js';
import { freePort, startRedis, type RedisServer } from '../helpers/redis-server.js';

const BIN = fileURLToPath(new URL('../../bin/hearth.js', import.meta.url));
const HEARTBEAT_S = 0.3;

let redis: RedisServer;
let dir: string;

beforeAll(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'hearth-cluster-cli-'));
  await writeTinySd(join(dir, 'tiny-sd'));
}, 120_000);

afterAll(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function writeConfig(name: string, cluster: Record<string, unknown>): string {
  const path = join(dir, `${name}.yaml`);
  const lines = [
    `dataDir: ${join(dir, `data-${name}`)}`,
    'log: { level: warn }',
    'models:',
    `  image: { dir: ${join(dir, 'tiny-sd')}, providers: [cpu] }`,
    `cluster: ${JSON.stringify(cluster)}`,
    '',
  ];
  writeFileSync(path, lines.join('\n'));
  return path;
}

interface Run {
  child: ChildProcess;
  out(): string;
  err(): string;
  exited: Promise<number | null>;
}

function hearth(args: string[]): Run {
  // The compiled CLI: bin/hearth.js compiles dist/ first when src/ is newer (once).
  const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exited };
}

/** What the CLI wrote on stderr besides bin/hearth.js's own compile notes. */
function errorLines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('hearth: '));
}

describe('hearth worker --config FILE (bin/hearth.js)', () => {
  it('joins the coordinator, draws the image placed on it with its real runner, and leaves on SIGTERM', async () => {
    const config = writeConfig('gpu-a', { redisUrl: redis.url, workerName: 'gpu-a', heartbeatSeconds: HEARTBEAT_S, capacity: 1 });
    const w = hearth(['worker', '--config', config]);
    try {
      await waitFor('the worker to say it runs', () => w.out().includes('hearth worker gpu-a is running'), 180_000);
      expect(w.out()).toContain(`Redis:  ${redis.url}`);
      const c = await startCoordinator({ redisUrl: redis.url, dbPath: join(dir, 'coord.db'), heartbeatMs: HEARTBEAT_S * 1000, declaredModels: [{ model: 'image', kind: 'image' }] });
      try {
        await waitFor('gpu-a to have joined', () => c.executor.workers().some((x) => x.name === 'gpu-a'));
        expect(c.executor.workers()[0]?.models.map((m) => m.model)).toEqual(['image']);
        const payload = buildImagePayload({ prompt: 'a photo of a red cat', steps: 3, width: 256, height: 256, seed: 7 }, { limits: DEFAULT_IMAGE_LIMITS, defaults: DEFAULT_IMAGE_DEFAULTS });
        if (!payload.ok) throw new Error(payload.error.message);
        const r = c.engine.submit({ kind: 'image', model: 'image', userId: 'u1', payload: payload.value as never });
        if (!r.ok) throw new Error(r.error.message);
        await c.engine.whenIdle();
        expect(endsByJob(c.events).get(r.value.id)).toEqual(['result']);
        const png = c.store.getJob(r.value.id)?.result?.image?.png;
        expect(png && Buffer.from(png).subarray(1, 4).toString()).toBe('PNG');
        expect(c.store.getJob(r.value.id)?.result?.image?.width).toBe(256);
        expect(c.executor.placements().map((p) => p.worker)).toEqual(['gpu-a']);
        expect(c.events.filter((e) => e.jobId === r.value.id && e.event.type === 'progress').length).toBeGreaterThanOrEqual(3);
      } finally {
        await c.close();
      }
      w.child.kill('SIGTERM');
      expect(await w.exited).toBe(0);
      expect(w.out()).toContain('hearth worker gpu-a is leaving');
    } finally {
      if (w.child.exitCode === null) w.child.kill('SIGKILL');
    }
  }, 240_000);

  it('without cluster.redisUrl: exit 2 and one line naming the key', async () => {
    const w = hearth(['worker', '--config', writeConfig('no-url', { workerName: 'x' })]);
    expect(await w.exited).toBe(2);
    const lines = errorLines(w.err());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^hearth worker needs cluster\.redisUrl \(a redis:\/\/ or rediss:\/\/ URL/);
  }, 180_000);

  it('with a cluster.workerName that cannot be one: exit 2 naming the key and what is allowed', async () => {
    const w = hearth(['worker', '--config', writeConfig('bad-name', { redisUrl: redis.url, workerName: 'no spaces/please' })]);
    expect(await w.exited).toBe(2);
    const text = errorLines(w.err()).join('\n');
    expect(text).toContain('cluster.workerName');
    expect(text).toContain('letters, digits');
    expect(text).not.toMatch(/\n\s+at /);
  }, 180_000);

  it('with Redis unreachable: exit 1 and one plain line naming the (redacted) URL and why', async () => {
    const port = await freePort();
    const url = `redis://:hunter2-secret@127.0.0.1:${port}`;
    const w = hearth(['worker', '--config', writeConfig('unreachable', { redisUrl: url, workerName: 'lonely' })]);
    expect(await w.exited).toBe(1);
    const lines = errorLines(w.err());
    expect(lines).toEqual([`hearth worker could not start: cannot reach Redis at redis://:***@127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`]);
    expect(w.err() + w.out()).not.toContain('hunter2-secret');
  }, 180_000);
});
