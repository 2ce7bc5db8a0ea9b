/**
 * Reads a store's database with SQL, on a connection of its own: for what tests check that the
 * store's interface has no reason to offer (a job's recorded state changes, a conversation's meta).
 */
import Database from 'better-sqlite3';

export interface TransitionRow {
  from: string | null;
  to: string;
  at: number;
  note: string | null;
}

/** The job's recorded state changes, oldest first; with `limit`, only the latest ones. */
export function transitions(dbPath: string, jobId: string, limit?: number): TransitionRow[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare<[string, number], TransitionRow>(
        `SELECT * FROM (SELECT id, from_state AS "from", to_state AS "to", at, note FROM job_transitions
                        WHERE job_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id`,
      )
      .all(jobId, limit ?? -1);
    return rows.map(({ from, to, at, note }) => ({ from, to, at, note }));
  } finally {
    db.close();
  }
}
