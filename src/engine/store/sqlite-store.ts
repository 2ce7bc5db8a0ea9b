/**
 * {@link HearthStore} on SQLite through better-sqlite3. One connection, shared by one repository per
 * concern ({@link SqliteJobs}, {@link SqliteUsage}, {@link SqliteConversations}), statements prepared
 * once, every write in an IMMEDIATE transaction (so a second connection, e.g. a CLI, gets a clean busy
 * wait instead of a failed lock upgrade). WAL with `synchronous=FULL`: a commit that returned survives
 * a power cut, which is what "durable before the owner is told" needs.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { HearthError, type JobRecord, type Json } from '../types.js';
import type {
  HearthStore,
  JobFilter,
  JobOutcome,
  NewJob,
  NewTurn,
  RecoveryReport,
  Turn,
  UsageBucket,
  UserSeconds,
  VirtualTime,
} from './job-store.js';
import { migrate } from './migrations.js';
import { SqliteConversations } from './sqlite-conversations.js';
import { SqliteJobs } from './sqlite-jobs.js';
import { SqliteRetention } from './sqlite-retention.js';
import { SqliteUsage } from './sqlite-usage.js';

export interface SqliteStoreOptions {
  /** How long a write waits for another connection's lock before failing (SQLITE_BUSY). Default 5000. */
  busyTimeoutMs?: number;
}

export class SqliteStore implements HearthStore {
  /** The file this store was opened on (`:memory:` for an in-memory one). */
  readonly path: string;
  /** Jobs, transitions, recovery and virtual times. */
  readonly jobs: SqliteJobs;
  /** The GPU-seconds ledger. */
  readonly usage: SqliteUsage;
  /** Conversation history. */
  readonly conversations: SqliteConversations;
  /** Upkeep: pruning old jobs, compacting the file. */
  readonly retention: SqliteRetention;
  readonly #db: Database.Database;

  /**
   * Opens (creating it 0600 and its parent folder 0700 if needed) and migrates the database at `path`.
   * `:memory:` gives a private in-memory database, for tests.
   */
  static open(path: string, opts: SqliteStoreOptions = {}): SqliteStore {
    const busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
    if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
      throw new HearthError('INVALID_INPUT', `busyTimeoutMs must be a whole number ≥ 0; got ${busyTimeoutMs}`, {
        busyTimeoutMs,
      });
    }
    const onDisk = path !== ':memory:' && path !== '';
    if (onDisk) {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      ownerOnly(path);
    }
    const db = new Database(path, { timeout: busyTimeoutMs });
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      migrate(db);
      // SQLite makes the -wal and -shm files with the database's mode; older ones may predate that.
      if (onDisk) for (const f of [`${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
      return new SqliteStore(db, path);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  private constructor(db: Database.Database, path: string) {
    this.#db = db;
    this.path = path;
    this.jobs = new SqliteJobs(db);
    this.usage = new SqliteUsage(db);
    this.conversations = new SqliteConversations(db);
    this.retention = new SqliteRetention(db);
  }

  // Jobs ------------------------------------------------------------------------------------------

  insertJob(job: NewJob, now: number): JobRecord {
    return this.jobs.insertJob(job, now);
  }
  getJob(id: string): JobRecord | undefined {
    return this.jobs.getJob(id);
  }
  listJobs(filter?: JobFilter): JobRecord[] {
    return this.jobs.listJobs(filter);
  }
  countActive(userId: string): number {
    return this.jobs.countActive(userId);
  }
  updatePayload(id: string, payload: Json): JobRecord {
    return this.jobs.updatePayload(id, payload);
  }
  updateOrigin(id: string, origin: Json): JobRecord {
    return this.jobs.updateOrigin(id, origin);
  }
  markRunning(id: string, now: number): JobRecord {
    return this.jobs.markRunning(id, now);
  }
  markQueued(id: string, now: number, note: string, opts?: { crashed?: boolean }): JobRecord {
    return this.jobs.markQueued(id, now, note, opts);
  }
  finish(id: string, outcome: JobOutcome, now: number, note?: string): JobRecord {
    return this.jobs.finish(id, outcome, now, note);
  }
  saveVirtualTimes(entries: readonly VirtualTime[]): void {
    this.jobs.saveVirtualTimes(entries);
  }
  loadVirtualTimes(): Map<string, number> {
    return this.jobs.loadVirtualTimes();
  }
  recoverAfterRestart(now: number): RecoveryReport {
    return this.jobs.recoverAfterRestart(now);
  }
  markDelivered(id: string, now: number): JobRecord {
    return this.jobs.markDelivered(id, now);
  }
  listUndelivered(): Array<JobRecord & { redeliveries: number }> {
    return this.jobs.listUndelivered();
  }
  noteRedelivery(id: string): void {
    this.jobs.noteRedelivery(id);
  }
  abandonDelivery(id: string, now: number): void {
    this.jobs.abandonDelivery(id, now);
  }
  forgetUploads(userId: string): number {
    return this.jobs.forgetUploads(userId);
  }
  deleteEnded(ids: readonly string[]): number {
    return this.jobs.deleteEnded(ids);
  }

  // Usage -----------------------------------------------------------------------------------------

  addUsage(userId: string, jobId: string, gpuSeconds: number, now: number): void {
    this.usage.addUsage(userId, jobId, gpuSeconds, now);
  }
  usageSince(userId: string, sinceMs: number): number {
    return this.usage.usageSince(userId, sinceMs);
  }
  usageByUser(sinceMs: number): UserSeconds[] {
    return this.usage.usageByUser(sinceMs);
  }
  usageBuckets(sinceMs: number, bucketMs: number): UsageBucket[] {
    return this.usage.usageBuckets(sinceMs, bucketMs);
  }

  // Conversations ---------------------------------------------------------------------------------

  appendTurn(conversationId: string, turn: NewTurn, now: number): Turn {
    return this.conversations.appendTurn(conversationId, turn, now);
  }
  getTurns(conversationId: string, limit?: number): Turn[] {
    return this.conversations.getTurns(conversationId, limit);
  }
  clearConversation(conversationId: string): number {
    return this.conversations.clearConversation(conversationId);
  }

  // The connection --------------------------------------------------------------------------------

  /**
   * The connection, for repositories kept outside the engine in the same database (the workspace
   * knowledge index, src/knowledge): their tables come from the same migrations.
   */
  get database(): Database.Database {
    return this.#db;
  }

  /**
   * The connection's settings as SQLite reports them (`hearth doctor`, and the test that holds the
   * durability contract: synchronous, foreign keys and the busy timeout are per connection, so only
   * this connection can show them).
   */
  settings(): { journalMode: string; synchronous: number; foreignKeys: boolean; busyTimeoutMs: number; schemaVersion: number } {
    const pragma = (name: string): unknown => this.#db.pragma(name, { simple: true });
    return {
      journalMode: String(pragma('journal_mode')),
      synchronous: Number(pragma('synchronous')),
      foreignKeys: Number(pragma('foreign_keys')) === 1,
      busyTimeoutMs: Number(pragma('busy_timeout')),
      schemaVersion: Number(pragma('user_version')),
    };
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * The database holds people's prompts, answers and images: only its owner may read it. A new file is
 * created 0600 (SQLite then gives its -wal and -shm files the same mode); an existing one is set to 0600.
 */
function ownerOnly(path: string): void {
  if (existsSync(path)) chmodSync(path, 0o600);
  else closeSync(openSync(path, 'a', 0o600));
}
