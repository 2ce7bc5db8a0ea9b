import type Database from 'better-sqlite3';
import { HearthError } from '../types.js';
import type { UsageBucket, UsageStore, UserSeconds } from './job-store.js';
import { checkTime, immediate, notFound } from './sqlite-shared.js';

/** {@link UsageStore} on SQLite: the `usage` ledger, and each job's `used_s` kept equal to its rows. */
export class SqliteUsage implements UsageStore {
  readonly #s: ReturnType<typeof prepare>;
  readonly #usageTx: (userId: string, jobId: string, seconds: number, now: number) => void;

  constructor(db: Database.Database) {
    const s = (this.#s = prepare(db));
    this.#usageTx = immediate(db, (userId: string, jobId: string, seconds: number, now: number) => {
      if (s.addUsed.run(seconds, jobId).changes === 0) throw notFound(jobId);
      s.insertUsage.run({ userId, jobId, day: utcDay(now), at: now, seconds });
    });
  }

  addUsage(userId: string, jobId: string, gpuSeconds: number, now: number): void {
    checkTime(now);
    if (!Number.isFinite(gpuSeconds) || gpuSeconds < 0) {
      throw new HearthError('INVALID_INPUT', `gpuSeconds must be a number ≥ 0; got ${gpuSeconds}`, { gpuSeconds, jobId });
    }
    this.#usageTx(userId, jobId, gpuSeconds, now);
  }

  usageSince(userId: string, sinceMs: number): number {
    return this.#s.usageSince.get(userId, sinceMs) ?? 0;
  }

  usageByUser(sinceMs: number): UserSeconds[] {
    return this.#s.usageByUser.all(sinceMs);
  }

  usageBuckets(sinceMs: number, bucketMs: number): UsageBucket[] {
    if (!Number.isInteger(bucketMs) || bucketMs < 1) {
      throw new HearthError('INVALID_INPUT', `bucketMs must be a whole number of milliseconds ≥ 1; got ${bucketMs}`, {
        bucketMs,
      });
    }
    return this.#s.usageBuckets.all({ since: sinceMs, bucket: bucketMs });
  }
}

function prepare(db: Database.Database) {
  return {
    addUsed: db.prepare<[number, string]>('UPDATE jobs SET used_s = used_s + ? WHERE id = ?'),
    insertUsage: db.prepare<{ userId: string; jobId: string; day: string; at: number; seconds: number }>(
      'INSERT INTO usage (user_id, job_id, day, at, gpu_seconds) VALUES (:userId, :jobId, :day, :at, :seconds)',
    ),
    usageSince: db.prepare<[string, number], number>(
      'SELECT coalesce(sum(gpu_seconds), 0) FROM usage WHERE user_id = ? AND at >= ?',
    ).pluck(),
    usageByUser: db.prepare<[number], UserSeconds>(
      `SELECT user_id AS userId, sum(gpu_seconds) AS seconds FROM usage WHERE at >= ?
       GROUP BY user_id ORDER BY seconds DESC, userId`,
    ),
    usageBuckets: db.prepare<{ since: number; bucket: number }, UsageBucket>(
      `SELECT user_id AS userId, CAST(at / :bucket AS INTEGER) * :bucket AS bucketStart, sum(gpu_seconds) AS seconds
       FROM usage WHERE at >= :since
       GROUP BY userId, bucketStart ORDER BY bucketStart, userId`,
    ),
  };
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
