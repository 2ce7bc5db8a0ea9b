/**
 * Semantic retrieval as the app puts it together when `models.embedding` is configured: the vector
 * table in the store's database, the embedder that fills it through GPU-worker jobs, and the hybrid
 * search that reads it.
 */
import { resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { KnowledgeEmbedder, type EmbedJobRunner } from './embedder.js';
import type { MessageIndex } from './message-index.js';
import { SemanticSearch } from './semantic-search.js';
import { VectorIndex } from './vector-index.js';

/** The engine's id of the embedding model (as the GPU worker's runner serves it). */
export const EMBEDDING_MODEL_ID = 'embedding';

export interface SemanticKnowledge {
  vectors: VectorIndex;
  embedder: KnowledgeEmbedder;
  search: SemanticSearch;
}

export function semanticKnowledge(opts: {
  db: Database.Database;
  index: MessageIndex;
  jobs: EmbedJobRunner;
  embedding: { dir: string; batchSize: number };
  report(error: unknown, where: string): void;
  questionTimeoutMs?: number;
  idlePollMs?: number;
}): SemanticKnowledge {
  // The folder names the model: vectors made by another folder's model are not mixed with its own.
  const vectors = new VectorIndex(opts.db, resolve(opts.embedding.dir));
  const embedder = new KnowledgeEmbedder({
    jobs: opts.jobs,
    index: vectors,
    model: EMBEDDING_MODEL_ID,
    batchSize: opts.embedding.batchSize,
    report: opts.report,
    ...(opts.questionTimeoutMs !== undefined ? { questionTimeoutMs: opts.questionTimeoutMs } : {}),
    ...(opts.idlePollMs !== undefined ? { idlePollMs: opts.idlePollMs } : {}),
  });
  return { vectors, embedder, search: new SemanticSearch({ index: opts.index, vectors, embedder }) };
}
