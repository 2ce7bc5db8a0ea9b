/**
 * hearth's SQLite schema as forward migrations. `PRAGMA user_version` holds the number of the last
 * migration applied; each migration runs in its own transaction together with the version bump, so a
 * crash mid-upgrade leaves the database at the previous version, never in between.
 *
 * Append new migrations at the end; never edit one that has shipped (a user's database already ran it).
 */
import type Database from 'better-sqlite3';
import { HearthError } from '../types.js';

export interface Migration {
  /** 1, 2, 3, … with no gaps: the `user_version` the database has once this migration ran. */
  version: number;
  description: string;
  sql: string;
  /**
   * The migration rebuilds a table that others reference (SQLite's way to change a CHECK): foreign
   * keys are switched off around its transaction (the pragma is a no-op inside one) and checked
   * with `foreign_key_check` before it commits.
   */
  rebuildsTables?: true;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'jobs, transitions, users, usage ledger, conversations',
    sql: `
      CREATE TABLE users (
        id      TEXT PRIMARY KEY,
        -- The fair scheduler's virtual time, saved so that a restart keeps fairness.
        vtime   REAL NOT NULL DEFAULT 0,
        -- Queued + running jobs: lets a claim find backlogged users without scanning jobs.
        pending INTEGER NOT NULL DEFAULT 0 CHECK (pending >= 0)
      );
      CREATE INDEX users_backlogged_vtime ON users (vtime) WHERE pending > 0;

      -- seq is the rowid, so FIFO order is the table's own order and AUTOINCREMENT never reuses a number.
      CREATE TABLE jobs (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        id              TEXT NOT NULL UNIQUE,
        kind            TEXT NOT NULL CHECK (kind IN ('chat', 'image', 'caption')),
        model           TEXT NOT NULL,
        user_id         TEXT NOT NULL REFERENCES users (id),
        payload         TEXT NOT NULL,
        origin          TEXT,
        conversation_id TEXT,
        weight          REAL NOT NULL DEFAULT 1 CHECK (weight > 0),
        state           TEXT NOT NULL
                        CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        crashes         INTEGER NOT NULL DEFAULT 0,
        estimate_s      REAL NOT NULL DEFAULT 0,
        used_s          REAL NOT NULL DEFAULT 0,
        created_at      INTEGER NOT NULL,
        started_at      INTEGER,
        finished_at     INTEGER,
        -- JobResult without image.png, which lives in result_png (no base64 blow-up).
        result          TEXT,
        result_png      BLOB,
        error           TEXT
      );
      CREATE INDEX jobs_state_seq ON jobs (state, seq);
      CREATE INDEX jobs_user_state_seq ON jobs (user_id, state, seq);

      CREATE TABLE job_transitions (
        id         INTEGER PRIMARY KEY,
        job_id     TEXT NOT NULL REFERENCES jobs (id),
        from_state TEXT,
        to_state   TEXT NOT NULL,
        at         INTEGER NOT NULL,
        note       TEXT
      );
      CREATE INDEX job_transitions_job ON job_transitions (job_id, id);

      -- No foreign key to jobs: the ledger is what was spent and must outlive any pruning of old jobs.
      CREATE TABLE usage (
        id          INTEGER PRIMARY KEY,
        user_id     TEXT NOT NULL,
        job_id      TEXT,
        day         TEXT NOT NULL,
        at          INTEGER NOT NULL,
        gpu_seconds REAL NOT NULL CHECK (gpu_seconds >= 0)
      );
      CREATE INDEX usage_user_at ON usage (user_id, at);
      CREATE INDEX usage_at ON usage (at);

      CREATE TABLE conversations (
        id         TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        meta       TEXT
      );

      CREATE TABLE turns (
        id              INTEGER PRIMARY KEY,
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        seq             INTEGER NOT NULL,
        role            TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'context')),
        content         TEXT NOT NULL,
        meta            TEXT,
        at              INTEGER NOT NULL,
        UNIQUE (conversation_id, seq)
      );
    `,
  },
  {
    version: 2,
    description: 'jobs remember an admin submitter and whether their end reached the owner; ended jobs drop uploaded image bytes',
    sql: `
      -- The submitter was a hearth admin: exempt from the daily limit when the job starts, as at submit.
      ALTER TABLE jobs ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
      -- When an adapter confirmed that the job's end (result, failure, cancel) reached its owner.
      ALTER TABLE jobs ADD COLUMN delivered_at INTEGER;
      -- Restarts at which the end was sent again because it had not been confirmed.
      ALTER TABLE jobs ADD COLUMN redeliveries INTEGER NOT NULL DEFAULT 0;
      -- When hearth stopped trying (too many restarts, or too old): never sent again.
      ALTER TABLE jobs ADD COLUMN delivery_abandoned_at INTEGER;
      -- Jobs that ended before deliveries were recorded were answered by the hearth that ran them.
      UPDATE jobs SET delivered_at = finished_at WHERE state IN ('done', 'failed', 'cancelled');
      CREATE INDEX jobs_undelivered ON jobs (seq)
        WHERE delivered_at IS NULL AND delivery_abandoned_at IS NULL AND finished_at IS NOT NULL;
      -- Uploaded images are not kept once their job has ended.
      UPDATE jobs SET payload = json_remove(payload, '$.imageBase64')
        WHERE state IN ('done', 'failed', 'cancelled') AND json_type(payload, '$.imageBase64') IS NOT NULL;
    `,
  },
  {
    version: 3,
    description: 'workspace knowledge: indexed messages with full-text search, indexed channels and their sync cursors',
    sql: `
      -- One row per platform message (a thread reply names its parent); edits replace the text.
      CREATE TABLE knowledge_messages (
        id          INTEGER PRIMARY KEY,
        platform    TEXT NOT NULL,
        workspace   TEXT NOT NULL,
        channel     TEXT NOT NULL,
        message_id  TEXT NOT NULL,
        thread_id   TEXT,
        author      TEXT NOT NULL,
        author_name TEXT,
        at          INTEGER NOT NULL,
        text        TEXT NOT NULL,
        permalink   TEXT,
        UNIQUE (platform, workspace, channel, message_id)
      );
      CREATE INDEX knowledge_messages_thread ON knowledge_messages (platform, workspace, channel, thread_id);
      -- External-content FTS5 over the text, kept in step by triggers.
      CREATE VIRTUAL TABLE knowledge_fts USING fts5 (
        text, content = 'knowledge_messages', content_rowid = 'id', tokenize = 'porter unicode61 remove_diacritics 2'
      );
      CREATE TRIGGER knowledge_messages_ai AFTER INSERT ON knowledge_messages BEGIN
        INSERT INTO knowledge_fts (rowid, text) VALUES (new.id, new.text);
      END;
      CREATE TRIGGER knowledge_messages_ad AFTER DELETE ON knowledge_messages BEGIN
        INSERT INTO knowledge_fts (knowledge_fts, rowid, text) VALUES ('delete', old.id, old.text);
      END;
      CREATE TRIGGER knowledge_messages_au AFTER UPDATE OF text ON knowledge_messages BEGIN
        INSERT INTO knowledge_fts (knowledge_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO knowledge_fts (rowid, text) VALUES (new.id, new.text);
      END;
      -- A channel being indexed: where its backfill stands (cursor) and up to which message it is synced.
      CREATE TABLE knowledge_channels (
        platform      TEXT NOT NULL,
        workspace     TEXT NOT NULL,
        channel       TEXT NOT NULL,
        name          TEXT,
        private       INTEGER,
        cursor        TEXT,
        backfilled_at INTEGER,
        synced_until  TEXT,
        last_sync_at  INTEGER,
        PRIMARY KEY (platform, workspace, channel)
      );
    `,
  },
  {
    version: 4,
    description: 'embed jobs (text embeddings for workspace knowledge); the knowledge messages awaiting an embedding, and the embedding model in use',
    rebuildsTables: true,
    sql: `
      -- A CHECK cannot be altered in SQLite: the jobs table is rebuilt with 'embed' allowed (SQLite's
      -- documented 12-step procedure; columns in the order migrations 1 and 2 left them).
      CREATE TABLE jobs_v4 (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        id              TEXT NOT NULL UNIQUE,
        kind            TEXT NOT NULL CHECK (kind IN ('chat', 'image', 'caption', 'embed')),
        model           TEXT NOT NULL,
        user_id         TEXT NOT NULL REFERENCES users (id),
        payload         TEXT NOT NULL,
        origin          TEXT,
        conversation_id TEXT,
        weight          REAL NOT NULL DEFAULT 1 CHECK (weight > 0),
        state           TEXT NOT NULL
                        CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        crashes         INTEGER NOT NULL DEFAULT 0,
        estimate_s      REAL NOT NULL DEFAULT 0,
        used_s          REAL NOT NULL DEFAULT 0,
        created_at      INTEGER NOT NULL,
        started_at      INTEGER,
        finished_at     INTEGER,
        result          TEXT,
        result_png      BLOB,
        error           TEXT,
        admin           INTEGER NOT NULL DEFAULT 0,
        delivered_at    INTEGER,
        redeliveries    INTEGER NOT NULL DEFAULT 0,
        delivery_abandoned_at INTEGER
      );
      INSERT INTO jobs_v4 SELECT * FROM jobs;
      -- AUTOINCREMENT never reuses a number, pruned jobs' numbers included.
      INSERT INTO sqlite_sequence (name, seq) SELECT 'jobs_v4', seq FROM sqlite_sequence WHERE name = 'jobs'
        AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'jobs_v4');
      UPDATE sqlite_sequence SET seq = max(seq, (SELECT seq FROM sqlite_sequence WHERE name = 'jobs'))
        WHERE name = 'jobs_v4' AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'jobs');
      DROP TABLE jobs;
      ALTER TABLE jobs_v4 RENAME TO jobs;
      CREATE INDEX jobs_state_seq ON jobs (state, seq);
      CREATE INDEX jobs_user_state_seq ON jobs (user_id, state, seq);
      CREATE INDEX jobs_undelivered ON jobs (seq)
        WHERE delivered_at IS NULL AND delivery_abandoned_at IS NULL AND finished_at IS NOT NULL;

      -- Knowledge messages whose embedding is missing or stale (new, or text edited), by message row
      -- id. Kept by triggers whether or not an embedding model is configured, so one configured later
      -- (or after a restart) knows what to embed. The vectors themselves live in a sqlite-vec table
      -- made at run time, since its width is the model's (src/knowledge/vector-index.ts).
      -- (Not INSERT OR IGNORE in the triggers: the outer statement's conflict policy, an upsert's
      -- included, overrides a trigger's own.)
      CREATE TABLE knowledge_embed_queue (id INTEGER PRIMARY KEY);
      INSERT INTO knowledge_embed_queue (id) SELECT id FROM knowledge_messages;
      CREATE TRIGGER knowledge_embed_ai AFTER INSERT ON knowledge_messages BEGIN
        INSERT INTO knowledge_embed_queue (id) SELECT new.id WHERE NOT EXISTS (SELECT 1 FROM knowledge_embed_queue WHERE id = new.id);
      END;
      CREATE TRIGGER knowledge_embed_au AFTER UPDATE OF text ON knowledge_messages WHEN new.text IS NOT old.text BEGIN
        INSERT INTO knowledge_embed_queue (id) SELECT new.id WHERE NOT EXISTS (SELECT 1 FROM knowledge_embed_queue WHERE id = new.id);
      END;
      CREATE TRIGGER knowledge_embed_ad AFTER DELETE ON knowledge_messages BEGIN
        DELETE FROM knowledge_embed_queue WHERE id = old.id;
      END;
      -- The model whose vectors the vector table holds (a different model means embedding again).
      CREATE TABLE knowledge_vector_model (
        only  INTEGER PRIMARY KEY CHECK (only = 1),
        model TEXT NOT NULL,
        dims  INTEGER NOT NULL CHECK (dims > 0)
      );
    `,
  },
];

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/**
 * Brings the database up to {@link SCHEMA_VERSION}. Refuses a database written by a newer hearth
 * (its tables may mean things this code does not know) instead of reading it wrongly.
 */
export function migrate(db: Database.Database): { from: number; to: number } {
  const from = db.pragma('user_version', { simple: true });
  if (typeof from !== 'number') throw new Error(`PRAGMA user_version returned ${String(from)}`);
  if (from > SCHEMA_VERSION) {
    throw new HearthError(
      'INVALID_INPUT',
      `database ${db.name} has schema version ${from}, newer than this hearth knows (up to ${SCHEMA_VERSION}); ` +
        'run a newer hearth or point dataDir at another folder',
      { path: db.name, schemaVersion: from, supported: SCHEMA_VERSION },
    );
  }
  MIGRATIONS.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${i} has version ${m.version}; expected ${i + 1}`);
  });
  for (const m of MIGRATIONS.slice(from)) {
    const foreignKeys = m.rebuildsTables === true && db.pragma('foreign_keys', { simple: true }) === 1;
    if (foreignKeys) db.pragma('foreign_keys = OFF');
    try {
      db.transaction(() => {
        db.exec(m.sql);
        if (m.rebuildsTables) {
          const broken = db.pragma('foreign_key_check') as unknown[];
          if (broken.length > 0) throw new Error(`migration ${m.version} would break ${broken.length} foreign key reference(s)`);
        }
        // user_version takes no bound parameter; m.version is a checked integer.
        db.pragma(`user_version = ${m.version}`);
      }).immediate();
    } finally {
      if (foreignKeys) db.pragma('foreign_keys = ON');
    }
  }
  return { from, to: SCHEMA_VERSION };
}
