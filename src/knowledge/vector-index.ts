/**
 * Message embeddings in hearth's own SQLite database, searched by meaning: a sqlite-vec `vec0` table
 * (`knowledge_vec`) keyed by the message's row id in `knowledge_messages`, sharded by workspace
 * (partition key) with the channel as a metadata column, so a search looks only at what the asker may
 * read.
 *
 * The search is brute force, so what it scans is what it costs: 100,000 float vectors of 384 are
 * 150 MB a question (hundreds of milliseconds). The table therefore indexes each vector by its signs
 * (binary quantization, 48 bytes for 384 dimensions, compared by Hamming distance) and keeps the float
 * vector beside it (an auxiliary column, read only for candidates): a search takes the
 * {@link OVERSAMPLE}× nearest by Hamming distance, then orders those by exact cosine distance. With
 * sentence-embedding models this keeps nearly all of the exact search's top results (binary
 * quantization with rescoring is the usual trade); a model whose width is not a multiple of 8 gets an
 * exact float index instead.
 *
 * The table is made here, not in a migration, because its width is the model's. Which model filled it
 * is kept in `knowledge_vector_model`; another model (or width) empties it and queues every message
 * again. What awaits an embedding is `knowledge_embed_queue`, kept by triggers of migration 4 whether
 * or not a model is configured. A vector leaves with its message, and with an edit (stale until
 * embedded again), through TEMP triggers that live only on this connection with sqlite-vec loaded: a
 * hearth running without a model never touches the vector table, and the sweep in the constructor
 * removes what was deleted meanwhile.
 */
import type Database from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import type { SearchScope } from './message-index.js';
import type { IndexedMessage, SearchHit } from './types.js';

/** One message waiting for its embedding: its row id and the text to embed. */
export interface PendingMessage {
  id: number;
  text: string;
}

/** A message's vector to keep, with the text it was made from (an edit meanwhile makes it stale). */
export interface MessageVector extends PendingMessage {
  vector: Float32Array;
}

const TABLE = 'knowledge_vec';
/** Candidates by Hamming distance per result wanted, before exact rescoring (and at least {@link MIN_CANDIDATES}). */
export const OVERSAMPLE = 10;
const MIN_CANDIDATES = 200;

/** Binary-quantized (with float rescoring) when the width allows it. */
function binary(dims: number): boolean {
  return dims % 8 === 0;
}

function scopeKey(platform: string, workspace: string): string {
  return `${platform}:${workspace}`;
}

function blob(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

interface HitRow {
  id: number;
  distance: number;
  platform: string;
  workspace: string;
  channel: string;
  message_id: string;
  thread_id: string | null;
  author: string;
  author_name: string | null;
  at: number;
  text: string;
  permalink: string | null;
}

export class VectorIndex {
  readonly #db: Database.Database;
  /** The model the vectors must come from (`models.embedding`'s identity). */
  readonly model: string;
  #dims: number | undefined;
  readonly #searches = new Map<number, Database.Statement>();

  /**
   * Loads sqlite-vec into the store's connection and opens the vectors of `model` when the table
   * holds them (they survive a restart); another model's vectors are dropped once this one's width
   * is known ({@link save}).
   */
  constructor(db: Database.Database, model: string) {
    this.#db = db;
    this.model = model;
    sqliteVec.load(db);
    const kept = db.prepare<[], { model: string; dims: number }>('SELECT model, dims FROM knowledge_vector_model WHERE only = 1').get();
    if (kept && kept.model === model && this.#tableExists()) {
      this.#dims = kept.dims;
      this.#attach();
    }
  }

  /** The vectors' width, once known (a kept table, or the first batch saved). */
  get dims(): number | undefined {
    return this.#dims;
  }

  /** Messages awaiting an embedding, oldest row first. */
  pending(limit: number): PendingMessage[] {
    return this.#db
      .prepare<[number], PendingMessage>('SELECT m.id AS id, m.text AS text FROM knowledge_embed_queue q JOIN knowledge_messages m ON m.id = q.id ORDER BY q.id LIMIT ?')
      .all(Math.max(1, Math.floor(limit)));
  }

  /** How many messages await an embedding. */
  pendingCount(): number {
    return this.#db.prepare<[], { n: number }>('SELECT count(*) AS n FROM knowledge_embed_queue').get()?.n ?? 0;
  }

  /** How many vectors are kept. */
  count(): number {
    if (this.#dims === undefined) return 0;
    return this.#db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${TABLE}`).get()?.n ?? 0;
  }

  /**
   * Keeps the vectors of messages whose text is still the text embedded, and takes them off the
   * queue; a message deleted or edited meanwhile is skipped (an edit stays queued). The first batch
   * fixes the table's width; a batch of another width than the table's (the model folder changed
   * under a running hearth) empties the table and queues every message again. Returns how many were kept.
   */
  save(vectors: readonly MessageVector[]): number {
    const dims = vectors[0]?.vector.length;
    if (dims === undefined) return 0;
    return this.#db
      .transaction(() => {
        if (this.#dims !== dims) this.#reset(dims);
        const current = this.#db.prepare<[number], { text: string; platform: string; workspace: string; channel: string }>(
          'SELECT text, platform, workspace, channel FROM knowledge_messages WHERE id = ?',
        );
        const drop = this.#db.prepare<[bigint]>(`DELETE FROM ${TABLE} WHERE rowid = ?`);
        const insert = binary(dims)
          ? this.#db.prepare<[bigint, Buffer, string, string, Buffer]>(`INSERT INTO ${TABLE} (rowid, embedding, scope, channel, full) VALUES (?, vec_quantize_binary(?), ?, ?, ?)`)
          : this.#db.prepare<[bigint, Buffer, string, string]>(`INSERT INTO ${TABLE} (rowid, embedding, scope, channel) VALUES (?, ?, ?, ?)`);
        const dequeue = this.#db.prepare<[number]>('DELETE FROM knowledge_embed_queue WHERE id = ?');
        let kept = 0;
        for (const v of vectors) {
          if (v.vector.length !== dims) continue;
          const m = current.get(v.id);
          if (!m || m.text !== v.text) continue;
          // vec0 has no upsert; its rowids must be bound as integers (BigInt), not doubles.
          drop.run(BigInt(v.id));
          const args: [bigint, Buffer, string, string] = [BigInt(v.id), blob(v.vector), scopeKey(m.platform, m.workspace), m.channel];
          if (binary(dims)) insert.run(...args, blob(v.vector));
          else (insert as Database.Statement<[bigint, Buffer, string, string]>).run(...args);
          dequeue.run(v.id);
          kept++;
        }
        return kept;
      })
      .immediate();
  }

  /**
   * The messages nearest to `vector` (cosine distance, as `score`) in the scope's channels, nearest
   * first; nothing before any vector was kept, or for a vector of another width.
   */
  search(vector: Float32Array, scope: SearchScope, limit: number): SearchHit[] {
    if (this.#dims === undefined || vector.length !== this.#dims || scope.channels.length === 0) return [];
    const n = scope.channels.length;
    let stmt = this.#searches.get(n);
    if (!stmt) {
      // sqlite-vec filters metadata during the KNN search when the IN list is bound value by value.
      const inList = Array.from({ length: n }, () => '?').join(', ');
      const near = binary(this.#dims)
        ? `SELECT rowid AS id, vec_distance_cosine(full, :q) AS distance FROM ${TABLE}
           WHERE embedding MATCH vec_quantize_binary(:q) AND k = :candidates AND scope = :scope AND channel IN (${inList})`
        : `SELECT rowid AS id, distance FROM ${TABLE}
           WHERE embedding MATCH :q AND k = :candidates AND scope = :scope AND channel IN (${inList})`;
      stmt = this.#db.prepare(`
        WITH near AS (${near})
        SELECT near.id, near.distance, m.platform, m.workspace, m.channel, m.message_id, m.thread_id, m.author,
               m.author_name, m.at, m.text, m.permalink
        FROM near JOIN knowledge_messages m ON m.id = near.id
        ORDER BY near.distance, m.at DESC LIMIT :limit`);
      this.#searches.set(n, stmt);
    }
    const want = Math.max(1, Math.floor(limit));
    const candidates = binary(this.#dims) ? Math.max(MIN_CANDIDATES, want * OVERSAMPLE) : want;
    const named = { q: blob(vector), candidates, scope: scopeKey(scope.platform, scope.workspace), limit: want };
    const rows = stmt.all(named, ...scope.channels) as HitRow[];
    return rows.map(toHit);
  }

  #tableExists(): boolean {
    return this.#db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table' AND name = ?").get(TABLE)?.n === 1;
  }

  /** Makes an empty table of this width for this model, and queues every message for it. */
  #reset(dims: number): void {
    this.#db.exec(`DROP TABLE IF EXISTS ${TABLE}`);
    // dims is a checked integer (a vector's length), not text from outside.
    this.#db.exec(
      binary(dims)
        ? `CREATE VIRTUAL TABLE ${TABLE} USING vec0 (embedding bit[${dims}], scope text partition key, channel text, +full blob)`
        : `CREATE VIRTUAL TABLE ${TABLE} USING vec0 (embedding float[${dims}] distance_metric=cosine, scope text partition key, channel text)`,
    );
    this.#db.prepare('INSERT INTO knowledge_vector_model (only, model, dims) VALUES (1, ?, ?) ON CONFLICT (only) DO UPDATE SET model = excluded.model, dims = excluded.dims').run(this.model, dims);
    this.#db.exec('INSERT OR IGNORE INTO knowledge_embed_queue (id) SELECT id FROM knowledge_messages');
    this.#dims = dims;
    this.#searches.clear();
    this.#attach();
  }

  /** The TEMP triggers, and a sweep of what changed while they were not there. */
  #attach(): void {
    this.#db.exec(`
      CREATE TEMP TRIGGER IF NOT EXISTS knowledge_vec_ad AFTER DELETE ON main.knowledge_messages BEGIN
        DELETE FROM main.${TABLE} WHERE rowid = old.id;
      END;
      CREATE TEMP TRIGGER IF NOT EXISTS knowledge_vec_au AFTER UPDATE OF text ON main.knowledge_messages
      WHEN new.text IS NOT old.text BEGIN
        DELETE FROM main.${TABLE} WHERE rowid = old.id;
      END;`);
    // Deleted or edited while no model was configured: their vectors go (edited ones are queued).
    this.#db.transaction(() => {
      this.#db.exec(`DELETE FROM ${TABLE} WHERE rowid IN (SELECT id FROM knowledge_embed_queue)`);
      this.#db.exec(`DELETE FROM ${TABLE} WHERE rowid NOT IN (SELECT id FROM knowledge_messages)`);
    }).immediate();
  }
}

function toHit(r: HitRow): SearchHit {
  const m: IndexedMessage = { platform: r.platform as IndexedMessage['platform'], workspace: r.workspace, channel: r.channel, messageId: r.message_id, author: r.author, at: r.at, text: r.text };
  if (r.thread_id !== null) m.threadId = r.thread_id;
  if (r.author_name !== null) m.authorName = r.author_name;
  if (r.permalink !== null) m.permalink = r.permalink;
  return { ...m, score: r.distance };
}
