import type Database from 'better-sqlite3';
import { checkTime, immediate } from './sqlite-shared.js';

/** What one pruning removed. */
export interface PruneReport {
  /** Finished jobs deleted (with their results, images and transitions). */
  jobs: number;
  /** Usage ledger rows folded into one row per user and UTC day (the totals are unchanged). */
  usageRows: number;
  /** Conversation turns deleted: those older than the cutoff, and those past the newest {@link KEPT_TURNS} of a conversation. */
  turns: number;
}

/**
 * Turns a conversation keeps. A question is given at most its conversation's newest 200 turns (and
 * fewer once fitted to the model's context), so older ones are never read again.
 */
export const KEPT_TURNS = 200;

/** What one compaction did. */
export interface CompactReport {
  /** Free pages given back to the file system. */
  freedPages: number;
  /** `incremental`: the free pages were released; `vacuum`: the file was rebuilt (once, to switch to incremental vacuum); `none`: nothing to free. */
  mode: 'incremental' | 'vacuum' | 'none';
}

/** Pruning old data and compacting the file: hearth's upkeep, on the store's own connection. */
export interface RetentionStore {
  /**
   * Deletes jobs that ended (done, failed, cancelled) before `before` (epoch ms), with their results,
   * images and transitions, and folds usage ledger rows of UTC days wholly before `before` into one row
   * per user and day: every user's GPU-seconds totals stay as they were. Queued and running jobs are
   * never touched. One transaction.
   */
  prune(before: number): PruneReport;
  /**
   * Gives the pages freed by pruning back to the file system (`PRAGMA incremental_vacuum`; the first
   * time on a database made without incremental auto-vacuum, a VACUUM that switches it on) and
   * truncates the write-ahead log. Blocks while it runs: call it when no job is running.
   */
  compact(): CompactReport;
}

const DAY_MS = 86_400_000;

/** {@link RetentionStore} on SQLite. */
export class SqliteRetention implements RetentionStore {
  readonly #db: Database.Database;
  readonly #pruneTx: (before: number) => PruneReport;

  constructor(db: Database.Database) {
    this.#db = db;
    const oldJobs = "SELECT id FROM jobs WHERE state IN ('done', 'failed', 'cancelled') AND finished_at < :before";
    const s = {
      transitions: db.prepare<{ before: number }>(`DELETE FROM job_transitions WHERE job_id IN (${oldJobs})`),
      jobs: db.prepare<{ before: number }>("DELETE FROM jobs WHERE state IN ('done', 'failed', 'cancelled') AND finished_at < :before"),
      foldInsert: db.prepare<{ day: number }>(
        `INSERT INTO usage (user_id, job_id, day, at, gpu_seconds)
         SELECT user_id, NULL, day, CAST(min(at) / ${DAY_MS} AS INTEGER) * ${DAY_MS}, sum(gpu_seconds)
         FROM usage WHERE at < :day AND job_id IS NOT NULL GROUP BY user_id, day`,
      ),
      foldDelete: db.prepare<{ day: number }>('DELETE FROM usage WHERE at < :day AND job_id IS NOT NULL'),
      oldTurnsByTime: db.prepare<{ before: number }>('DELETE FROM turns WHERE at < :before'),
      idleConversations: db.prepare<{ before: number }>('DELETE FROM conversations WHERE updated_at < :before'),
      oldTurns: db.prepare<{ keep: number }>(
        `DELETE FROM turns WHERE id IN (
           SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY conversation_id ORDER BY seq DESC) AS n FROM turns) WHERE n > :keep
         )`,
      ),
    };
    this.#pruneTx = immediate(db, (before: number): PruneReport => {
      s.transitions.run({ before });
      const jobs = s.jobs.run({ before }).changes;
      const day = before - (before % DAY_MS);
      s.foldInsert.run({ day });
      const usageRows = s.foldDelete.run({ day }).changes;
      // Conversation history is kept for the same days as the jobs that made it (and no more than a
      // question can still be given); a conversation idle since the cutoff goes with it.
      let turns = s.oldTurnsByTime.run({ before }).changes;
      s.idleConversations.run({ before });
      turns += s.oldTurns.run({ keep: KEPT_TURNS }).changes;
      return { jobs, usageRows, turns };
    });
  }

  prune(before: number): PruneReport {
    checkTime(before);
    return this.#pruneTx(before);
  }

  compact(): CompactReport {
    const num = (name: string): number => Number(this.#db.pragma(name, { simple: true }));
    const free = num('freelist_count');
    let mode: CompactReport['mode'] = 'none';
    if (free > 0) {
      if (num('auto_vacuum') === 2) {
        this.#db.pragma('incremental_vacuum');
        mode = 'incremental';
      } else {
        // auto_vacuum can only change on an empty database or through a VACUUM: rebuild once.
        this.#db.pragma('auto_vacuum = INCREMENTAL');
        this.#db.exec('VACUUM');
        mode = 'vacuum';
      }
    }
    this.#db.pragma('wal_checkpoint(TRUNCATE)');
    return { freedPages: free - num('freelist_count'), mode };
  }
}
