import type Database from 'better-sqlite3';
import { HearthError, type JobKind, type JobRecord, type JobState, type Json } from '../types.js';
import { UPLOADED_BYTES_KEYS, type JobFilter, type JobOutcome, type JobRecordStore, type NewJob, type RecoveryReport, type VirtualTime } from './job-store.js';
import {
  JOB_COLUMNS,
  checkTime,
  encodeResult,
  expectState,
  immediate,
  notFound,
  toRecord,
  type JobRow,
  type Stmt,
} from './sqlite-shared.js';

const ACTIVE: readonly JobState[] = ['queued', 'running'];
const FINAL: readonly JobState[] = ['done', 'failed', 'cancelled'];
/** The payload with its uploaded bytes removed (SQL; the keys are constants, not input). */
const DROP_UPLOADS = `json_remove(payload, ${UPLOADED_BYTES_KEYS.map((k) => `'$.${k}'`).join(', ')})`;

/**
 * {@link JobRecordStore} on SQLite: the `jobs` table with its `job_transitions` history, and `users`
 * (pending counters, virtual times). Every state change is one IMMEDIATE transaction that also records
 * the transition and keeps the user's pending count.
 */
export class SqliteJobs implements JobRecordStore {
  readonly #db: Database.Database;
  readonly #s: ReturnType<typeof prepare>;
  /** listJobs statements by filter shape, each prepared the first time that shape is asked for. */
  readonly #listStatements = new Map<string, Stmt<unknown[], JobRow>>();
  readonly #insertTx: (job: NewJob, now: number) => JobRecord;
  readonly #runningTx: (id: string, now: number) => JobRecord;
  readonly #queuedTx: (id: string, now: number, note: string, crashed: boolean) => JobRecord;
  readonly #payloadTx: (id: string, payload: Json) => JobRecord;
  readonly #finishTx: (id: string, outcome: JobOutcome, now: number, note: string | null) => JobRecord;
  readonly #vtimeTx: (entries: readonly VirtualTime[]) => void;
  readonly #recoverTx: (now: number) => RecoveryReport;
  readonly #deleteTx: (ids: string) => number;

  constructor(db: Database.Database) {
    this.#db = db;
    const s = (this.#s = prepare(db));

    this.#insertTx = immediate(db, (job: NewJob, now: number) => {
      if (s.jobById.get(job.id)) {
        throw new HearthError('INVALID_INPUT', `a job with id ${job.id} already exists`, { jobId: job.id });
      }
      s.ensureUser.run(job.userId);
      s.insertJob.run({
        id: job.id,
        kind: job.kind,
        model: job.model,
        userId: job.userId,
        payload: JSON.stringify(job.payload),
        origin: job.origin === undefined ? null : JSON.stringify(job.origin),
        conversationId: job.conversationId ?? null,
        weight: job.weight ?? 1,
        estimate: job.estimateSeconds,
        admin: job.admin === true ? 1 : 0,
        now,
      });
      s.pendingAdd.run(1, job.userId);
      this.#transition(job.id, null, 'queued', now, null);
      return this.#mustGet(job.id);
    });

    this.#runningTx = immediate(db, (id: string, now: number) => {
      const job = this.#mustGet(id);
      expectState(job, ['queued'], 'start');
      s.setRunning.run(now, id);
      this.#transition(id, job.state, 'running', now, `attempt ${job.attempts + 1}`);
      return this.#mustGet(id);
    });

    this.#payloadTx = immediate(db, (id: string, payload: Json) => {
      const job = this.#mustGet(id);
      expectState(job, ['queued'], 'change the input of');
      s.setPayload.run(JSON.stringify(payload), id);
      return this.#mustGet(id);
    });

    this.#queuedTx = immediate(db, (id: string, now: number, note: string, crashed: boolean) => {
      const job = this.#mustGet(id);
      expectState(job, ['running'], 'queue again');
      s.setQueued.run(crashed ? 1 : 0, id);
      this.#transition(id, job.state, 'queued', now, note);
      return this.#mustGet(id);
    });

    this.#finishTx = immediate(db, (id: string, outcome: JobOutcome, now: number, note: string | null) => {
      const job = this.#mustGet(id);
      // The first outcome wins: this is what keeps a job from completing twice (e.g. a result that
      // arrives after a cancel, or a retry of a job that had in fact finished).
      if (FINAL.includes(job.state)) return job;
      const { json, png } = encodeResult(outcome.result);
      s.setFinished.run({ id, state: outcome.state, now, result: json, png, error: outcome.error ? JSON.stringify(outcome.error) : null, crashed: outcome.crashed ? 1 : 0 });
      s.pendingAdd.run(-1, job.userId);
      this.#transition(id, job.state, outcome.state, now, note);
      return this.#mustGet(id);
    });

    this.#vtimeTx = immediate(db, (entries: readonly VirtualTime[]) => {
      for (const { userId, vtime } of entries) s.saveVtime.run(userId, vtime);
    });

    this.#deleteTx = immediate(db, (ids: string) => {
      // Transitions first: they reference the job (a foreign key). The ledger has no key to jobs.
      s.deleteEndedTransitions.run(ids);
      return s.deleteEnded.run(ids).changes;
    });

    this.#recoverTx = immediate(db, (now: number) => {
      const report: RecoveryReport = { requeued: [] };
      for (const job of this.listJobs({ states: ['running'] })) {
        s.setQueued.run(0, job.id);
        this.#transition(job.id, 'running', 'queued', now, 'hearth restarted while it ran');
        report.requeued.push(this.#mustGet(job.id));
      }
      // The counters are a cache of the jobs table; rebuilding them here heals any drift.
      s.recomputePending.run();
      return report;
    });
  }

  insertJob(job: NewJob, now: number): JobRecord {
    checkTime(now);
    const weight = job.weight ?? 1;
    if (!Number.isFinite(weight) || weight <= 0) {
      throw new HearthError('INVALID_INPUT', `weight must be a number > 0; got ${weight}`, { weight });
    }
    if (!Number.isFinite(job.estimateSeconds) || job.estimateSeconds < 0) {
      throw new HearthError('INVALID_INPUT', `estimateSeconds must be a number ≥ 0; got ${job.estimateSeconds}`, {
        estimateSeconds: job.estimateSeconds,
      });
    }
    return this.#insertTx(job, now);
  }

  getJob(id: string): JobRecord | undefined {
    const row = this.#s.jobById.get(id);
    return row ? toRecord(row) : undefined;
  }

  listJobs(filter: JobFilter = {}): JobRecord[] {
    const states = filter.states && filter.states.length > 0 ? filter.states : undefined;
    const order = filter.order ?? 'seq';
    const limit = filter.limit ?? -1;
    if (filter.limit !== undefined && (!Number.isInteger(filter.limit) || filter.limit < 1)) {
      throw new HearthError('INVALID_INPUT', `limit must be a whole number ≥ 1; got ${filter.limit}`, {
        limit: filter.limit,
      });
    }
    const key = `${states ? 's' : ''}${filter.userId !== undefined ? 'u' : ''}:${order}`;
    let stmt = this.#listStatements.get(key);
    if (!stmt) {
      const where: string[] = [];
      if (states) where.push('state IN (SELECT value FROM json_each(?))');
      if (filter.userId !== undefined) where.push('user_id = ?');
      stmt = this.#db.prepare<unknown[], JobRow>(
        `SELECT ${JOB_COLUMNS} FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ` +
          `ORDER BY seq ${order === 'recent' ? 'DESC' : 'ASC'} LIMIT ?`,
      );
      this.#listStatements.set(key, stmt);
    }
    const params: unknown[] = [];
    if (states) params.push(JSON.stringify(states));
    if (filter.userId !== undefined) params.push(filter.userId);
    params.push(limit);
    return stmt.all(...params).map(toRecord);
  }

  countActive(userId: string): number {
    return this.#s.countActive.get(userId) ?? 0;
  }

  markRunning(id: string, now: number): JobRecord {
    checkTime(now);
    return this.#runningTx(id, now);
  }

  updatePayload(id: string, payload: Json): JobRecord {
    return this.#payloadTx(id, payload);
  }

  updateOrigin(id: string, origin: Json): JobRecord {
    const job = this.#mustGet(id);
    // An ended job's origin still takes what its final render posts, until that end is delivered.
    if (job.deliveredAt !== null) {
      throw new HearthError('INVALID_INPUT', `job ${id} can change where the answer goes only until its end is delivered; it was delivered at ${job.deliveredAt}`, {
        jobId: id,
        state: job.state,
        given: job.deliveredAt,
      });
    }
    this.#s.setOrigin.run(JSON.stringify(origin), id);
    return this.#mustGet(id);
  }

  markQueued(id: string, now: number, note: string, opts: { crashed?: boolean } = {}): JobRecord {
    checkTime(now);
    return this.#queuedTx(id, now, note, opts.crashed === true);
  }

  finish(id: string, outcome: JobOutcome, now: number, note?: string): JobRecord {
    checkTime(now);
    if (!FINAL.includes(outcome.state)) {
      throw new HearthError('INVALID_INPUT', `a job finishes as done, failed or cancelled; got ${outcome.state}`, {
        jobId: id,
        state: outcome.state,
      });
    }
    return this.#finishTx(id, outcome, now, note ?? null);
  }

  saveVirtualTimes(entries: readonly VirtualTime[]): void {
    for (const { userId, vtime } of entries) {
      if (!Number.isFinite(vtime)) {
        throw new HearthError('INVALID_INPUT', `vtime of ${userId} must be a finite number; got ${vtime}`, { userId, vtime });
      }
    }
    this.#vtimeTx(entries);
  }

  loadVirtualTimes(): Map<string, number> {
    return new Map(this.#s.allVtimes.all());
  }

  recoverAfterRestart(now: number): RecoveryReport {
    checkTime(now);
    return this.#recoverTx(now);
  }

  markDelivered(id: string, now: number): JobRecord {
    checkTime(now);
    const job = this.#mustGet(id);
    expectState(job, FINAL, 'be delivered');
    if (job.deliveredAt === null) this.#s.setDelivered.run(now, id);
    return this.#mustGet(id);
  }

  listUndelivered(): Array<JobRecord & { redeliveries: number }> {
    return this.#s.undelivered.all().map((row) => ({ ...toRecord(row), redeliveries: row.redeliveries }));
  }

  noteRedelivery(id: string): void {
    if (this.#s.addRedelivery.run(id).changes === 0) throw notFound(id);
  }

  abandonDelivery(id: string, now: number): void {
    checkTime(now);
    if (this.#s.abandonDelivery.run(now, id).changes === 0) throw notFound(id);
  }

  forgetUploads(userId: string): number {
    return this.#s.forgetUploads.run(userId).changes;
  }

  deleteEnded(ids: readonly string[]): number {
    if (ids.length === 0) return 0;
    return this.#deleteTx(JSON.stringify(ids));
  }

  #mustGet(id: string): JobRecord {
    const job = this.getJob(id);
    if (!job) throw notFound(id);
    return job;
  }

  #transition(jobId: string, from: JobState | null, to: JobState, at: number, note: string | null): void {
    this.#s.insertTransition.run(jobId, from, to, at, note);
  }
}

function prepare(db: Database.Database) {
  return {
    jobById: db.prepare<[string], JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`),
    insertJob: db.prepare<{
      id: string;
      kind: JobKind;
      model: string;
      userId: string;
      payload: string;
      origin: string | null;
      conversationId: string | null;
      weight: number;
      estimate: number;
      admin: number;
      now: number;
    }>(
      `INSERT INTO jobs (id, kind, model, user_id, payload, origin, conversation_id, weight, state, estimate_s, admin, created_at)
       VALUES (:id, :kind, :model, :userId, :payload, :origin, :conversationId, :weight, 'queued', :estimate, :admin, :now)`,
    ),
    ensureUser: db.prepare<[string]>('INSERT INTO users (id) VALUES (?) ON CONFLICT (id) DO NOTHING'),
    // Guarded so that a counter that has drifted low stays at 0 instead of breaking the CHECK.
    pendingAdd: db.prepare<[number, string]>('UPDATE users SET pending = max(pending + ?, 0) WHERE id = ?'),
    recomputePending: db.prepare<[]>(
      `UPDATE users SET pending =
         (SELECT count(*) FROM jobs WHERE jobs.user_id = users.id AND state IN ('queued', 'running'))`,
    ),
    countActive: db.prepare<[string], number>(
      `SELECT count(*) FROM jobs WHERE user_id = ? AND state IN (${ACTIVE.map((s) => `'${s}'`).join(', ')})`,
    ).pluck(),
    setOrigin: db.prepare<[string, string], void>(`UPDATE jobs SET origin = ? WHERE id = ?`),
    setPayload: db.prepare<[string, string], void>(`UPDATE jobs SET payload = ? WHERE id = ?`),
    setRunning: db.prepare<[number, string]>(
      "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = ? WHERE id = ?",
    ),
    setQueued: db.prepare<[number, string]>(
      "UPDATE jobs SET state = 'queued', started_at = NULL, crashes = crashes + ? WHERE id = ?",
    ),
    setDelivered: db.prepare<[number, string]>('UPDATE jobs SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL'),
    undelivered: db.prepare<[], JobRow & { redeliveries: number }>(
      `SELECT ${JOB_COLUMNS}, redeliveries FROM jobs
       WHERE delivered_at IS NULL AND delivery_abandoned_at IS NULL AND finished_at IS NOT NULL AND origin IS NOT NULL
       ORDER BY seq`,
    ),
    addRedelivery: db.prepare<[string]>('UPDATE jobs SET redeliveries = redeliveries + 1 WHERE id = ?'),
    abandonDelivery: db.prepare<[number, string]>('UPDATE jobs SET delivery_abandoned_at = ? WHERE id = ?'),
    forgetUploads: db.prepare<[string]>(
      `UPDATE jobs SET payload = ${DROP_UPLOADS}
       WHERE user_id = ? AND state IN (${FINAL.map((s) => `'${s}'`).join(', ')}) AND payload != ${DROP_UPLOADS}`,
    ),
    deleteEndedTransitions: db.prepare<[string]>(
      `DELETE FROM job_transitions WHERE job_id IN
         (SELECT id FROM jobs WHERE id IN (SELECT value FROM json_each(?)) AND state IN (${FINAL.map((s) => `'${s}'`).join(', ')}))`,
    ),
    deleteEnded: db.prepare<[string]>(
      `DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?)) AND state IN (${FINAL.map((s) => `'${s}'`).join(', ')})`,
    ),
    setFinished: db.prepare<{
      id: string;
      state: string;
      now: number;
      result: string | null;
      png: Buffer | null;
      error: string | null;
      crashed: number;
    }>(
      `UPDATE jobs SET state = :state, finished_at = :now, result = :result, result_png = :png, error = :error, crashes = crashes + :crashed,
         payload = ${DROP_UPLOADS}
       WHERE id = :id`,
    ),
    insertTransition: db.prepare<[string, string | null, string, number, string | null]>(
      'INSERT INTO job_transitions (job_id, from_state, to_state, at, note) VALUES (?, ?, ?, ?, ?)',
    ),
    saveVtime: db.prepare<[string, number]>(
      'INSERT INTO users (id, vtime) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET vtime = excluded.vtime',
    ),
    allVtimes: db.prepare<[], [string, number]>('SELECT id, vtime FROM users').raw(),
  };
}
