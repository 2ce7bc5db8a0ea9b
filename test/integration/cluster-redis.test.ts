/**
 * The cluster and its Redis: a Redis restart (SIGTERM, then the same port, folder and append-only
 * file) in the middle of running and queued jobs is waited out, and every job is answered exactly once;
 * Redis with a password (which never reaches a log line) and with TLS (rediss://, a throwaway CA made
 * with openssl here, trusted through `tlsCaFile`). Workers are processes, Redis is Debian's redis-server.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { ClusterExecutor } from '../../src/cluster/index.js';
import type { JobSpec } from '../../src/engine/types.js';
import type { SimModelSpec } from '../fixtures/sim-runner.js';
import { endsByJob, startCoordinator, startWorker, waitFor, type Coordinator, type TestWorker } from '../helpers/cluster.js';
import { startRedis, type RedisTls } from '../helpers/redis-server.js';

const HEARTBEAT_MS = 300;
const IMAGE: SimModelSpec = { model: 'sim-image', kind: 'image', stepMs: 40 };

let dir: string;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-cluster-redis-'));
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function worker(opts: Parameters<typeof startWorker>[0]): Promise<TestWorker> {
  const w = await startWorker(opts);
  cleanups.push(() => w.kill());
  return w;
}

async function coordinator(opts: Parameters<typeof startCoordinator>[0]): Promise<Coordinator> {
  const c = await startCoordinator(opts);
  cleanups.push(() => c.close());
  return c;
}

function submit(c: Coordinator, spec: JobSpec): string {
  const r = c.engine.submit(spec);
  if (!r.ok) throw new Error(`refused: ${r.error.code} ${r.error.message}`);
  return r.value.id;
}

/** A throwaway CA and a certificate it signed for 127.0.0.1, made with openssl. */
function makeTls(): RedisTls {
  const d = mkdtempSync(join(dir, 'tls-'));
  const f = (n: string): string => join(d, n);
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '1', '-subj', '/CN=hearth test CA');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('redis.key'), '-out', f('redis.csr'), '-subj', '/CN=127.0.0.1');
  writeFileSync(f('ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('x509', '-req', '-in', f('redis.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('redis.crt'), '-days', '1', '-extfile', f('ext'));
  return { certFile: f('redis.crt'), keyFile: f('redis.key'), caFile: f('ca.crt') };
}

describe('the cluster and its Redis', () => {
  it.each([
    { how: 'a restart (SIGTERM)', appendonly: true as const, signal: 'SIGTERM' as const },
    { how: 'kill -9 (appendfsync always)', appendonly: 'always' as const, signal: 'SIGKILL' as const },
  ])('survives Redis going down by $how mid-run: jobs running and queued meanwhile are answered exactly once, none counted as a crash', async ({ appendonly, signal }) => {
    const redis = await startRedis({ appendonly });
    cleanups.push(() => redis.stop());
    const alpha = await worker({ redisUrl: redis.url, name: 'alpha', models: [IMAGE], heartbeatMs: HEARTBEAT_MS });
    const beta = await worker({ redisUrl: redis.url, name: 'beta', models: [IMAGE], heartbeatMs: HEARTBEAT_MS });
    const c = await coordinator({ redisUrl: redis.url, dbPath: join(dir, `restart-${signal}.db`), heartbeatMs: HEARTBEAT_MS });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(submit(c, { kind: 'image', model: 'sim-image', userId: `u${i}`, payload: { steps: 25 } }));
    await waitFor('both workers to run a job with progress', () =>
      c.executor.workers().length === 2 &&
      c.executor.workers().every((w) => w.running.some((r) => c.events.some((e) => e.jobId === r.jobId && e.event.type === 'progress'))),
    );
    // Down for longer than the heartbeats live (3 beats): they expire while Redis is away.
    const restarting = redis.restart(HEARTBEAT_MS * 4, signal);
    // Queued while Redis is away (or coming back).
    for (let i = 4; i < 6; i++) ids.push(submit(c, { kind: 'image', model: 'sim-image', userId: `u${i}`, payload: { steps: 5 } }));
    await restarting;
    await c.engine.whenIdle();

    const ends = endsByJob(c.events);
    for (const id of ids) {
      expect(ends.get(id), `job ${id}`).toEqual(['result']);
      expect(c.store.getJob(id)?.state).toBe('done');
      expect(c.store.getJob(id)?.crashes, `crashes of ${id}`).toBe(0);
    }
    // Each job placed once: nobody was taken for dead, nothing ran twice.
    expect(c.executor.placements().map((p) => p.jobId).sort()).toEqual([...ids].sort());
    expect(c.executor.workers().map((w) => w.name).sort()).toEqual(['alpha', 'beta']);
    expect(c.logs.some((l) => l.includes('Redis went away'))).toBe(true);
    expect(c.logs.some((l) => l.includes('stopped answering'))).toBe(false);
    expect(alpha.child.exitCode).toBeNull();
    expect(beta.child.exitCode).toBeNull();
  });

  it('works with a Redis password, which no log line shows; a wrong one is refused in words', async () => {
    const password = 'Hearth-S3cret:pa55/word';
    const redis = await startRedis({ password });
    cleanups.push(() => redis.stop());
    const w = await worker({ redisUrl: redis.url, name: 'locked', models: [IMAGE], heartbeatMs: HEARTBEAT_MS });
    const c = await coordinator({ redisUrl: redis.url, dbPath: join(dir, 'password.db'), heartbeatMs: HEARTBEAT_MS });
    const id = submit(c, { kind: 'image', model: 'sim-image', userId: 'u1', payload: { steps: 3 } });
    await c.engine.whenIdle();
    expect(endsByJob(c.events).get(id)).toEqual(['result']);
    expect(c.executor.placements().map((p) => p.worker)).toEqual(['locked']);
    const logs = [...c.logs, w.log()].join('\n');
    expect(logs).toContain(':***@127.0.0.1');
    for (const form of [password, encodeURIComponent(password)]) expect(logs).not.toContain(form);

    const wrongPassword = 'not-the-Password-42';
    const wrong = new ClusterExecutor({ redisUrl: redis.url.replace(encodeURIComponent(password), wrongPassword), heartbeatMs: HEARTBEAT_MS });
    const refused = await wrong.describe().then(() => undefined, (e: unknown) => e as Error);
    await wrong.close();
    expect(refused?.message).toMatch(/cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/?: WRONGPASS/);
    expect(refused?.message).not.toContain(wrongPassword);
  });

  it('works over TLS (rediss://) with the CA given as tlsCaFile; without it the certificate is refused', async () => {
    const tls = makeTls();
    const redis = await startRedis({ tls, password: 'tls-and-auth-secret' });
    cleanups.push(() => redis.stop());
    expect(redis.url.startsWith('rediss://')).toBe(true);
    await worker({ redisUrl: redis.url, tlsCaFile: tls.caFile, name: 'secure', models: [IMAGE], heartbeatMs: HEARTBEAT_MS });
    const c = await coordinator({ redisUrl: redis.url, tlsCaFile: tls.caFile, dbPath: join(dir, 'tls.db'), heartbeatMs: HEARTBEAT_MS });
    const id = submit(c, { kind: 'image', model: 'sim-image', userId: 'u1', payload: { steps: 4 } });
    await c.engine.whenIdle();
    expect(endsByJob(c.events).get(id)).toEqual(['result']);
    expect(c.events.filter((e) => e.jobId === id && e.event.type === 'progress')).toHaveLength(4);

    const untrusting = new ClusterExecutor({ redisUrl: redis.url, heartbeatMs: HEARTBEAT_MS });
    const refused = await untrusting.describe().then(() => undefined, (e: unknown) => e as Error);
    await untrusting.close();
    expect(refused?.message).toMatch(/cannot reach Redis at rediss:\/\/:\*\*\*@127\.0\.0\.1:\d+\/?: .*(self[- ]signed|certificate)/i);
  });
});
