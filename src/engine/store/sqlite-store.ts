/**
 * {@link JobStore} on SQLite through better-sqlite3. One connection, statements prepared once,
 * every write in an IMMEDIATE transaction (so a second connection, e.g. a CLI, gets a clean busy wait
 * instead of a failed lock upgrade). WAL with `synchronous=FULL`: a commit that returned survives a
 * power cut, which is what "durable before the owner is told" needs.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  HearthError,
  type ErrorInfo,
  type JobKind,
  type JobRecord,
  type JobResult,
  type JobState,
  type Json,
} from '../types.js';
import type {
  JobFilter,
  JobOutcome,
  JobStore,
  JobTransition,
  NewJob,
  NewTurn,
  RecoveryReport,
  Turn,
  TurnRole,
  UsageBucket,
  UserSeconds,
  VirtualTime,
} from './job-store.js';
import { migrate } from './migrations.js';

export interface SqliteStoreOptions {
  /** How long a write waits for another connection's lock before failing (SQLITE_BUSY). Default 5000. */
  busyTimeoutMs?: number;
}

interface JobRow {
  seq: number;
  id: string;
  kind: string;
  model: string;
  user_id: string;
  payload: string;
  origin: string | null;
  conversation_id: string | null;
  weight: number;
  state: string;
  attempts: number;
  crashes: number;
  estimate_s: number;
  used_s: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  result: string | null;
  result_png: Buffer | null;
  error: string | null;
}

interface TransitionRow {
  job_id: string;
  from_state: string | null;
  to_state: string;
  at: number;
  note: string | null;
}

interface TurnRow {
  id: number;
  conversation_id: string;
  seq: number;
  role: string;
  content: string;
  meta: string | null;
  at: number;
}

/** A JobResult as the `result` column holds it: the PNG bytes are in `result_png`. */
type StoredResult = Omit<JobResult, 'image'> & { image?: { width: number; height: number } };

type Stmt<P extends unknown[], R = unknown> = Database.Statement<P, R>;

const ACTIVE: readonly JobState[] = ['queued', 'running'];
const FINAL: readonly JobState[] = ['done', 'failed', 'cancelled'];
const JOB_COLUMNS =
  'seq, id, kind, model, user_id, payload, origin, conversation_id, weight, state, attempts, crashes, ' +
  'estimate_s, used_s, created_at, started_at, finished_at, result, result_png, error';

export class SqliteStore implements JobStore {
  /** The file this store was opened on (`:memory:` for an in-memory one). */
  readonly path: string;
  private readonly db: Database.Database;
  private readonly s: ReturnType<typeof prepareStatements>;
  /** listJobs statements by filter shape, each prepared the first time that shape is asked for. */
  private readonly listStatements = new Map<string, Stmt<unknown[], JobRow>>();

  private readonly insertTx: (job: NewJob, now: number) => JobRecord;
  private readonly runningTx: (id: string, now: number) => JobRecord;
  private readonly queuedTx: (id: string, now: number, note: string, crashed: boolean) => JobRecord;
  private readonly payloadTx: (id: string, payload: Json) => JobRecord;
  private readonly finishTx: (id: string, outcome: JobOutcome, now: number, note: string | null) => JobRecord;
  private readonly usageTx: (userId: string, jobId: string, seconds: number, now: number) => void;
  private readonly vtimeTx: (entries: readonly VirtualTime[]) => void;
  private readonly recoverTx: (now: number, maxCrashes: number) => RecoveryReport;
  private readonly turnTx: (conversationId: string, turn: NewTurn, now: number) => Turn;

  /**
   * Opens (creating it and its parent folder if needed) and migrates the database at `path`.
   * `:memory:` gives a private in-memory database, for tests.
   */
  static open(path: string, opts: SqliteStoreOptions = {}): SqliteStore {
    const busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
    if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
      throw new HearthError('INVALID_INPUT', `busyTimeoutMs must be a whole number ≥ 0; got ${busyTimeoutMs}`, {
        busyTimeoutMs,
      });
    }
    if (path !== ':memory:' && path !== '') mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path, { timeout: busyTimeoutMs });
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      migrate(db);
      return new SqliteStore(db, path);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  private constructor(db: Database.Database, path: string) {
    this.db = db;
    this.path = path;
    this.s = prepareStatements(db);
    const tx = <A extends unknown[], R>(fn: (...args: A) => R): ((...args: A) => R) =>
      db.transaction(fn).immediate;

    this.insertTx = tx((job: NewJob, now: number) => {
      if (this.s.jobById.get(job.id)) {
        throw new HearthError('INVALID_INPUT', `a job with id ${job.id} already exists`, { jobId: job.id });
      }
      this.s.ensureUser.run(job.userId);
      this.s.insertJob.run({
        id: job.id,
        kind: job.kind,
        model: job.model,
        userId: job.userId,
        payload: JSON.stringify(job.payload),
        origin: job.origin === undefined ? null : JSON.stringify(job.origin),
        conversationId: job.conversationId ?? null,
        weight: job.weight ?? 1,
        estimate: job.estimateSeconds,
        now,
      });
      this.s.pendingAdd.run(1, job.userId);
      this.transition(job.id, null, 'queued', now, null);
      return this.mustGet(job.id);
    });

    this.runningTx = tx((id: string, now: number) => {
      const job = this.mustGet(id);
      expectState(job, ['queued'], 'start');
      this.s.setRunning.run(now, id);
      this.transition(id, job.state, 'running', now, `attempt ${job.attempts + 1}`);
      return this.mustGet(id);
    });

    this.payloadTx = tx((id: string, payload: Json) => {
      const job = this.mustGet(id);
      expectState(job, ['queued'], 'change the input of');
      this.s.setPayload.run(JSON.stringify(payload), id);
      return this.mustGet(id);
    });

    this.queuedTx = tx((id: string, now: number, note: string, crashed: boolean) => {
      const job = this.mustGet(id);
      expectState(job, ['running'], 'queue again');
      this.s.setQueued.run(crashed ? 1 : 0, id);
      this.transition(id, job.state, 'queued', now, note);
      return this.mustGet(id);
    });

    this.finishTx = tx((id: string, outcome: JobOutcome, now: number, note: string | null) => {
      const job = this.mustGet(id);
      // The first outcome wins: this is what keeps a job from completing twice (e.g. a result that
      // arrives after a cancel, or a retry of a job that had in fact finished).
      if (FINAL.includes(job.state)) return job;
      const { json, png } = encodeResult(outcome.result);
      this.s.setFinished.run({
        id,
        state: outcome.state,
        now,
        result: json,
        png,
        error: outcome.error ? JSON.stringify(outcome.error) : null,
      });
      this.s.pendingAdd.run(-1, job.userId);
      this.transition(id, job.state, outcome.state, now, note);
      return this.mustGet(id);
    });

    this.usageTx = tx((userId: string, jobId: string, seconds: number, now: number) => {
      if (this.s.addUsed.run(seconds, jobId).changes === 0) throw notFound(jobId);
      this.s.insertUsage.run({ userId, jobId, day: utcDay(now), at: now, seconds });
    });

    this.vtimeTx = tx((entries: readonly VirtualTime[]) => {
      for (const { userId, vtime } of entries) this.s.saveVtime.run(userId, vtime);
    });

    this.recoverTx = tx((now: number, maxCrashes: number) => {
      const report: RecoveryReport = { requeued: [], failed: [] };
      for (const job of this.listJobs({ states: ['running'] })) {
        const crashes = job.crashes + 1;
        this.s.addCrash.run(job.id);
        if (crashes >= maxCrashes) {
          const error: ErrorInfo = {
            code: 'WORKER_CRASHED',
            message: `this job stopped hearth ${times(crashes)} while running, so it was not tried again`,
            facts: { crashes, maxCrashes },
          };
          this.s.setFinished.run({ id: job.id, state: 'failed', now, result: null, png: null, error: JSON.stringify(error) });
          this.transition(job.id, 'running', 'failed', now, `hearth restarted while it ran (crash ${crashes} of ${maxCrashes})`);
          report.failed.push(this.mustGet(job.id));
        } else {
          this.s.setQueued.run(0, job.id);
          this.transition(job.id, 'running', 'queued', now, `hearth restarted while it ran (crash ${crashes} of ${maxCrashes})`);
          report.requeued.push(this.mustGet(job.id));
        }
      }
      // The counters are a cache of the jobs table; rebuilding them here heals any drift.
      this.s.recomputePending.run();
      return report;
    });

    this.turnTx = tx((conversationId: string, turn: NewTurn, now: number) => {
      this.s.touchConversation.run({ id: conversationId, now });
      const seq = this.s.nextTurnSeq.get(conversationId) ?? 1;
      const meta = turn.meta === undefined ? null : turn.meta;
      const { lastInsertRowid } = this.s.insertTurn.run({
        conversationId,
        seq,
        role: turn.role,
        content: turn.content,
        meta: meta === null ? null : JSON.stringify(meta),
        at: now,
      });
      return { id: Number(lastInsertRowid), conversationId, seq, role: turn.role, content: turn.content, meta, at: now };
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
    return this.insertTx(job, now);
  }

  getJob(id: string): JobRecord | undefined {
    const row = this.s.jobById.get(id);
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
    let stmt = this.listStatements.get(key);
    if (!stmt) {
      const where: string[] = [];
      if (states) where.push('state IN (SELECT value FROM json_each(?))');
      if (filter.userId !== undefined) where.push('user_id = ?');
      stmt = this.db.prepare<unknown[], JobRow>(
        `SELECT ${JOB_COLUMNS} FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ` +
          `ORDER BY seq ${order === 'recent' ? 'DESC' : 'ASC'} LIMIT ?`,
      );
      this.listStatements.set(key, stmt);
    }
    const params: unknown[] = [];
    if (states) params.push(JSON.stringify(states));
    if (filter.userId !== undefined) params.push(filter.userId);
    params.push(limit);
    return stmt.all(...params).map(toRecord);
  }

  countActive(userId: string): number {
    return this.s.countActive.get(userId) ?? 0;
  }

  markRunning(id: string, now: number): JobRecord {
    checkTime(now);
    return this.runningTx(id, now);
  }

  updatePayload(id: string, payload: Json): JobRecord {
    return this.payloadTx(id, payload);
  }

  updateOrigin(id: string, origin: Json): JobRecord {
    const job = this.mustGet(id);
    expectState(job, ['queued', 'running'], 'change where the answer goes of');
    this.s.setOrigin.run(JSON.stringify(origin), id);
    return this.mustGet(id);
  }

  markQueued(id: string, now: number, note: string, opts: { crashed?: boolean } = {}): JobRecord {
    checkTime(now);
    return this.queuedTx(id, now, note, opts.crashed === true);
  }

  finish(id: string, outcome: JobOutcome, now: number, note?: string): JobRecord {
    checkTime(now);
    if (!FINAL.includes(outcome.state)) {
      throw new HearthError('INVALID_INPUT', `a job finishes as done, failed or cancelled; got ${outcome.state}`, {
        jobId: id,
        state: outcome.state,
      });
    }
    return this.finishTx(id, outcome, now, note ?? null);
  }

  addUsage(userId: string, jobId: string, gpuSeconds: number, now: number): void {
    checkTime(now);
    if (!Number.isFinite(gpuSeconds) || gpuSeconds < 0) {
      throw new HearthError('INVALID_INPUT', `gpuSeconds must be a number ≥ 0; got ${gpuSeconds}`, { gpuSeconds, jobId });
    }
    this.usageTx(userId, jobId, gpuSeconds, now);
  }

  usageSince(userId: string, sinceMs: number): number {
    return this.s.usageSince.get(userId, sinceMs) ?? 0;
  }

  usageByUser(sinceMs: number): UserSeconds[] {
    return this.s.usageByUser.all(sinceMs);
  }

  usageBuckets(sinceMs: number, bucketMs: number): UsageBucket[] {
    if (!Number.isInteger(bucketMs) || bucketMs < 1) {
      throw new HearthError('INVALID_INPUT', `bucketMs must be a whole number of milliseconds ≥ 1; got ${bucketMs}`, {
        bucketMs,
      });
    }
    return this.s.usageBuckets.all({ since: sinceMs, bucket: bucketMs });
  }

  saveVirtualTimes(entries: readonly VirtualTime[]): void {
    for (const { userId, vtime } of entries) {
      if (!Number.isFinite(vtime)) {
        throw new HearthError('INVALID_INPUT', `vtime of ${userId} must be a finite number; got ${vtime}`, { userId, vtime });
      }
    }
    this.vtimeTx(entries);
  }

  loadVirtualTimes(): Map<string, number> {
    return new Map(this.s.allVtimes.all());
  }

  recoverAfterRestart(now: number, maxCrashes = 2): RecoveryReport {
    checkTime(now);
    if (!Number.isInteger(maxCrashes) || maxCrashes < 1) {
      throw new HearthError('INVALID_INPUT', `maxCrashes must be a whole number ≥ 1; got ${maxCrashes}`, { maxCrashes });
    }
    return this.recoverTx(now, maxCrashes);
  }

  appendTurn(conversationId: string, turn: NewTurn, now: number): Turn {
    checkTime(now);
    return this.turnTx(conversationId, turn, now);
  }

  getTurns(conversationId: string, limit?: number): Turn[] {
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
      throw new HearthError('INVALID_INPUT', `limit must be a whole number ≥ 0; got ${limit}`, { limit });
    }
    return this.s.turns.all(conversationId, limit ?? -1).map(toTurn);
  }

  clearConversation(conversationId: string): number {
    return this.s.clearTurns.run(conversationId).changes;
  }

  getConversationMeta(conversationId: string): Json | undefined {
    const row = this.s.conversationMeta.get(conversationId);
    if (!row) return undefined;
    return row.meta === null ? null : parseJson(row.meta);
  }

  setConversationMeta(conversationId: string, meta: Json, now: number): void {
    checkTime(now);
    this.s.setConversationMeta.run({ id: conversationId, now, meta: JSON.stringify(meta) });
  }

  recentTransitions(jobId: string, limit?: number): JobTransition[] {
    return this.s.transitions.all(jobId, limit ?? -1).map((r) => ({
      jobId: r.job_id,
      from: r.from_state as JobState | null,
      to: r.to_state as JobState,
      at: r.at,
      note: r.note,
    }));
  }

  /** The connection's settings as SQLite reports them, for `hearth doctor` and tests. */
  settings(): { journalMode: string; synchronous: number; foreignKeys: boolean; busyTimeoutMs: number; schemaVersion: number } {
    const pragma = (name: string): unknown => this.db.pragma(name, { simple: true });
    return {
      journalMode: String(pragma('journal_mode')),
      synchronous: Number(pragma('synchronous')),
      foreignKeys: Number(pragma('foreign_keys')) === 1,
      busyTimeoutMs: Number(pragma('busy_timeout')),
      schemaVersion: Number(pragma('user_version')),
    };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private mustGet(id: string): JobRecord {
    const job = this.getJob(id);
    if (!job) throw notFound(id);
    return job;
  }

  private transition(jobId: string, from: JobState | null, to: JobState, at: number, note: string | null): void {
    this.s.insertTransition.run(jobId, from, to, at, note);
  }
}

function prepareStatements(db: Database.Database) {
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
      now: number;
    }>(
      `INSERT INTO jobs (id, kind, model, user_id, payload, origin, conversation_id, weight, state, estimate_s, created_at)
       VALUES (:id, :kind, :model, :userId, :payload, :origin, :conversationId, :weight, 'queued', :estimate, :now)`,
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
    addCrash: db.prepare<[string]>('UPDATE jobs SET crashes = crashes + 1 WHERE id = ?'),
    setFinished: db.prepare<{
      id: string;
      state: string;
      now: number;
      result: string | null;
      png: Buffer | null;
      error: string | null;
    }>(
      `UPDATE jobs SET state = :state, finished_at = :now, result = :result, result_png = :png, error = :error
       WHERE id = :id`,
    ),
    insertTransition: db.prepare<[string, string | null, string, number, string | null]>(
      'INSERT INTO job_transitions (job_id, from_state, to_state, at, note) VALUES (?, ?, ?, ?, ?)',
    ),
    transitions: db.prepare<[string, number], TransitionRow>(
      `SELECT * FROM (SELECT id, job_id, from_state, to_state, at, note FROM job_transitions
                      WHERE job_id = ? ORDER BY id DESC LIMIT ?)
       ORDER BY id`,
    ),
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
    saveVtime: db.prepare<[string, number]>(
      'INSERT INTO users (id, vtime) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET vtime = excluded.vtime',
    ),
    allVtimes: db.prepare<[], [string, number]>('SELECT id, vtime FROM users').raw(),
    touchConversation: db.prepare<{ id: string; now: number }>(
      `INSERT INTO conversations (id, created_at, updated_at) VALUES (:id, :now, :now)
       ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at`,
    ),
    nextTurnSeq: db.prepare<[string], number>('SELECT coalesce(max(seq), 0) + 1 FROM turns WHERE conversation_id = ?').pluck(),
    insertTurn: db.prepare<{
      conversationId: string;
      seq: number;
      role: TurnRole;
      content: string;
      meta: string | null;
      at: number;
    }>(
      `INSERT INTO turns (conversation_id, seq, role, content, meta, at)
       VALUES (:conversationId, :seq, :role, :content, :meta, :at)`,
    ),
    turns: db.prepare<[string, number], TurnRow>(
      `SELECT * FROM (SELECT id, conversation_id, seq, role, content, meta, at FROM turns
                      WHERE conversation_id = ? ORDER BY seq DESC LIMIT ?)
       ORDER BY seq`,
    ),
    clearTurns: db.prepare<[string]>('DELETE FROM turns WHERE conversation_id = ?'),
    conversationMeta: db.prepare<[string], { meta: string | null }>('SELECT meta FROM conversations WHERE id = ?'),
    setConversationMeta: db.prepare<{ id: string; now: number; meta: string }>(
      `INSERT INTO conversations (id, created_at, updated_at, meta) VALUES (:id, :now, :now, :meta)
       ON CONFLICT (id) DO UPDATE SET meta = excluded.meta, updated_at = excluded.updated_at`,
    ),
  };
}

function toRecord(row: JobRow): JobRecord {
  return {
    id: row.id,
    seq: row.seq,
    kind: row.kind as JobKind,
    model: row.model,
    userId: row.user_id,
    payload: parseJson(row.payload),
    origin: row.origin === null ? null : parseJson(row.origin),
    conversationId: row.conversation_id,
    weight: row.weight,
    state: row.state as JobState,
    attempts: row.attempts,
    crashes: row.crashes,
    estimateSeconds: row.estimate_s,
    usedSeconds: row.used_s,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    result: decodeResult(row.result, row.result_png),
    error: row.error === null ? null : (JSON.parse(row.error) as ErrorInfo),
  };
}

function toTurn(row: TurnRow): Turn {
  return {
    id: row.id,
    conversationId: row.conversation_id,
    seq: row.seq,
    role: row.role as TurnRole,
    content: row.content,
    meta: row.meta === null ? null : (JSON.parse(row.meta) as Record<string, Json>),
    at: row.at,
  };
}

function encodeResult(result: JobResult | null | undefined): { json: string | null; png: Buffer | null } {
  if (!result) return { json: null, png: null };
  const { image, ...rest } = result;
  if (!image) return { json: JSON.stringify(rest), png: null };
  const stored: StoredResult = { ...rest, image: { width: image.width, height: image.height } };
  // A view, not a copy: SQLite copies the bytes itself when it binds the blob.
  return { json: JSON.stringify(stored), png: Buffer.from(image.png.buffer, image.png.byteOffset, image.png.byteLength) };
}

function decodeResult(json: string | null, png: Buffer | null): JobResult | null {
  if (json === null) return null;
  const { image, ...rest } = JSON.parse(json) as StoredResult;
  if (!image || !png) return rest;
  // A plain Uint8Array (not a Buffer) so the value compares and structured-clones like the one stored.
  return { ...rest, image: { ...image, png: new Uint8Array(png.buffer, png.byteOffset, png.byteLength) } };
}

function parseJson(text: string): Json {
  return JSON.parse(text) as Json;
}

function expectState(job: JobRecord, expected: readonly JobState[], action: string): void {
  if (expected.includes(job.state)) return;
  throw new HearthError(
    'INVALID_INPUT',
    `job ${job.id} can ${action} only when ${expected.join(' or ')}; it is ${job.state}`,
    { jobId: job.id, state: job.state, expected: [...expected] },
  );
}

function notFound(jobId: string): HearthError {
  return new HearthError('NOT_FOUND', `no job with id ${jobId}`, { jobId });
}

function checkTime(now: number): void {
  if (!Number.isFinite(now)) throw new HearthError('INVALID_INPUT', `time must be epoch milliseconds; got ${now}`, { now });
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function times(n: number): string {
  return n === 1 ? 'once' : n === 2 ? 'twice' : `${n} times`;
}
