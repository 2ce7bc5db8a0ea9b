/**
 * Message embeddings in hearth's own SQLite database, searched by meaning, keyed by the message's row
 * id in `knowledge_messages`: a sqlite-vec `vec0` table (`knowledge_vec`) sharded by workspace
 * (partition key) to find candidates, and the float vectors in a plain table (`knowledge_vec_full`)
 * to rank them.
 *
 * The search is brute force, so what it scans is what it costs: 100,000 float vectors of 384 are
 * 150 MB a question. The vec0 table therefore indexes each vector by its signs (binary quantization:
 * 48 bytes for 384 dimensions, compared by Hamming distance, scanned in memory: src/knowledge/sign-scan.ts);
 * a search takes the {@link OVERSAMPLE}× nearest by Hamming distance in the asker's workspace, then orders those by exact
 * cosine distance over the float vectors, keeping the channels the asker can read. With
 * sentence-embedding models this keeps nearly all of an exact search's top results (binary
 * quantization with rescoring is the usual trade). Channels are filtered after the candidates are
 * found (a metadata filter inside the KNN cost more than the KNN itself); when too few candidates
 * are readable, the search asks for more, up to all. A model whose width is not a multiple of 8 gets
 * an exact float index instead (same steps).
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
import { SignScan } from './sign-scan.js';
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
const FULL = 'knowledge_vec_full';
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
  #candidates: Database.Statement<[Buffer, number, string], { id: number }> | undefined;
  /** The sign bits in memory (binary widths only). */
  #signs: SignScan | undefined;
  #quantize: Database.Statement<[Buffer], { b: Buffer }> | undefined;
  #rank: Database.Statement<[Buffer, string, string, number], HitRow> | undefined;

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
    return this.#db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${FULL}`).get()?.n ?? 0;
  }

  /**
   * How many messages of each channel of a workspace have a vector (of this model), for the admin
   * status; channels with none are absent. Empty before any vector was kept.
   */
  channelVectorCounts(platform: string, workspace: string): Map<string, number> {
    if (this.#dims === undefined) return new Map();
    const rows = this.#db
      .prepare<[string, string], { channel: string; n: number }>(
        `SELECT m.channel AS channel, count(*) AS n FROM ${FULL} f JOIN knowledge_messages m ON m.id = f.id
         WHERE m.platform = ? AND m.workspace = ? GROUP BY m.channel`,
      )
      .all(platform, workspace);
    return new Map(rows.map((r) => [r.channel, r.n]));
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
        const insert = this.#db.prepare<[bigint, Buffer, string]>(
          `INSERT INTO ${TABLE} (rowid, embedding, scope) VALUES (?, ${binary(dims) ? 'vec_quantize_binary(?)' : '?'}, ?)`,
        );
        const full = this.#db.prepare<[number, Buffer]>(`INSERT INTO ${FULL} (id, v) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET v = excluded.v`);
        const dequeue = this.#db.prepare<[number]>('DELETE FROM knowledge_embed_queue WHERE id = ?');
        let kept = 0;
        for (const v of vectors) {
          if (v.vector.length !== dims) continue;
          const m = current.get(v.id);
          if (!m || m.text !== v.text) continue;
          // vec0 has no upsert; its rowids must be bound as integers (BigInt), not doubles.
          drop.run(BigInt(v.id));
          insert.run(BigInt(v.id), blob(v.vector), scopeKey(m.platform, m.workspace));
          full.run(v.id, blob(v.vector));
          if (this.#signs) this.#signs.set(v.id, scopeKey(m.platform, m.workspace), this.#bits(blob(v.vector)));
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
    const want = Math.max(1, Math.floor(limit));
    const q = blob(vector);
    const key = scopeKey(scope.platform, scope.workspace);
    const channels = JSON.stringify(scope.channels);
    this.#candidates ??= this.#db.prepare<[Buffer, number, string], { id: number }>(
      `SELECT rowid AS id FROM ${TABLE} WHERE embedding MATCH ${binary(this.#dims) ? 'vec_quantize_binary(?)' : '?'} AND k = ? AND scope = ?`,
    );
    this.#rank ??= this.#db.prepare<[Buffer, string, string, number], HitRow>(`
      SELECT m.id, vec_distance_cosine(f.v, ?) AS distance, m.platform, m.workspace, m.channel, m.message_id, m.thread_id,
             m.author, m.author_name, m.at, m.text, m.permalink
      FROM ${FULL} f JOIN knowledge_messages m ON m.id = f.id
      WHERE f.id IN (SELECT value FROM json_each(?)) AND m.channel IN (SELECT value FROM json_each(?))
      ORDER BY distance, m.at DESC LIMIT ?`);
    const signs = this.#signs;
    const query = signs ? this.#bits(q) : undefined;
    // vec0's k is at most 4096; the in-memory scan has no limit (an asker who reads little of a big workspace).
    const most = signs ? Number.MAX_SAFE_INTEGER : 4096;
    for (let k = Math.max(MIN_CANDIDATES, want * OVERSAMPLE); ; k = Math.min(most, k * 4)) {
      const ids = signs && query ? signs.nearest(key, query, k) : this.#candidates.all(q, k, key).map((r) => r.id);
      const rows = this.#rank.all(q, JSON.stringify(ids), channels, want);
      if (rows.length >= want || ids.length < k || k >= most) return rows.map(toHit);
    }
  }

  #tableExists(): boolean {
    const has = this.#db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table' AND name = ?");
    return has.get(TABLE)?.n === 1 && has.get(FULL)?.n === 1;
  }

  /** Makes an empty table of this width for this model, and queues every message for it. */
  #reset(dims: number): void {
    this.#db.exec(`DROP TABLE IF EXISTS ${TABLE}; DROP TABLE IF EXISTS ${FULL}`);
    // dims is a checked integer (a vector's length), not text from outside.
    this.#db.exec(
      binary(dims)
        ? `CREATE VIRTUAL TABLE ${TABLE} USING vec0 (embedding bit[${dims}], scope text partition key)`
        : `CREATE VIRTUAL TABLE ${TABLE} USING vec0 (embedding float[${dims}] distance_metric=cosine, scope text partition key)`,
    );
    this.#db.exec(`CREATE TABLE ${FULL} (id INTEGER PRIMARY KEY, v BLOB NOT NULL)`);
    this.#db.prepare('INSERT INTO knowledge_vector_model (only, model, dims) VALUES (1, ?, ?) ON CONFLICT (only) DO UPDATE SET model = excluded.model, dims = excluded.dims').run(this.model, dims);
    this.#db.exec('INSERT OR IGNORE INTO knowledge_embed_queue (id) SELECT id FROM knowledge_messages');
    this.#dims = dims;
    this.#candidates = undefined;
    this.#rank = undefined;
    this.#signs = undefined;
    this.#attach();
  }

  /** The sign bits of a float32 vector, as vec0 keeps them. */
  #bits(vector: Buffer): Uint8Array {
    this.#quantize ??= this.#db.prepare<[Buffer], { b: Buffer }>('SELECT vec_quantize_binary(?) AS b');
    return this.#quantize.get(vector)!.b;
  }

  /** The TEMP triggers, and a sweep of what changed while they were not there. */
  #attach(): void {
    this.#db.exec(`
      CREATE TEMP TRIGGER IF NOT EXISTS knowledge_vec_ad AFTER DELETE ON main.knowledge_messages BEGIN
        DELETE FROM main.${TABLE} WHERE rowid = old.id;
        DELETE FROM main.${FULL} WHERE id = old.id;
      END;
      CREATE TEMP TRIGGER IF NOT EXISTS knowledge_vec_au AFTER UPDATE OF text ON main.knowledge_messages
      WHEN new.text IS NOT old.text BEGIN
        DELETE FROM main.${TABLE} WHERE rowid = old.id;
        DELETE FROM main.${FULL} WHERE id = old.id;
      END;`);
    // Deleted or edited while no model was configured: their vectors go (edited ones are queued).
    this.#db.transaction(() => {
      for (const [table, id] of [[TABLE, 'rowid'], [FULL, 'id']] as const) {
        this.#db.exec(`DELETE FROM ${table} WHERE ${id} IN (SELECT id FROM knowledge_embed_queue)`);
        this.#db.exec(`DELETE FROM ${table} WHERE ${id} NOT IN (SELECT id FROM knowledge_messages)`);
      }
    }).immediate();
    if (this.#dims !== undefined && binary(this.#dims)) {
      const signs = new SignScan(this.#dims / 8);
      for (const [id, bits, scope] of this.#db.prepare(`SELECT rowid, embedding, scope FROM ${TABLE}`).raw().iterate() as IterableIterator<[number, Buffer, string]>) {
        signs.set(id, scope, bits);
      }
      this.#signs = signs;
    }
  }
}

function toHit(r: HitRow): SearchHit {
  const m: IndexedMessage = { platform: r.platform as IndexedMessage['platform'], workspace: r.workspace, channel: r.channel, messageId: r.message_id, author: r.author, at: r.at, text: r.text };
  if (r.thread_id !== null) m.threadId = r.thread_id;
  if (r.author_name !== null) m.authorName = r.author_name;
  if (r.permalink !== null) m.permalink = r.permalink;
  return { ...m, score: r.distance };
}
