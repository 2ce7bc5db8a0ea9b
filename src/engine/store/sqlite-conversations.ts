import type Database from 'better-sqlite3';
import { HearthError, type Json } from '../types.js';
import type { ConversationStore, NewTurn, Turn, TurnRole } from './job-store.js';
import { checkTime, immediate } from './sqlite-shared.js';

interface TurnRow {
  id: number;
  conversation_id: string;
  seq: number;
  role: string;
  content: string;
  meta: string | null;
  at: number;
}

/** {@link ConversationStore} on SQLite: `conversations` and their `turns`. */
export class SqliteConversations implements ConversationStore {
  readonly #s: ReturnType<typeof prepare>;
  readonly #turnTx: (conversationId: string, turn: NewTurn, now: number) => Turn;

  constructor(db: Database.Database) {
    const s = (this.#s = prepare(db));
    this.#turnTx = immediate(db, (conversationId: string, turn: NewTurn, now: number): Turn => {
      s.touchConversation.run({ id: conversationId, now });
      const seq = s.nextTurnSeq.get(conversationId) ?? 1;
      const meta = turn.meta === undefined ? null : turn.meta;
      const { lastInsertRowid } = s.insertTurn.run({
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

  appendTurn(conversationId: string, turn: NewTurn, now: number): Turn {
    checkTime(now);
    return this.#turnTx(conversationId, turn, now);
  }

  getTurns(conversationId: string, limit?: number): Turn[] {
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
      throw new HearthError('INVALID_INPUT', `limit must be a whole number ≥ 0; got ${limit}`, { limit });
    }
    return this.#s.turns.all(conversationId, limit ?? -1).map(toTurn);
  }

  clearConversation(conversationId: string): number {
    return this.#s.clearTurns.run(conversationId).changes;
  }
}

function prepare(db: Database.Database) {
  return {
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
