/**
 * bench/knowledge: workspace knowledge at 100,000 indexed messages (issue 17, must-have 5), on the real
 * SQLite store (WAL, synchronous=FULL), FTS5 and sqlite-vec, with synthetic seeded messages.
 *
 * - Backfill/index throughput: messages/s written as the backfill writes them (pages of 200 with their
 *   cursor, one IMMEDIATE transaction each; FTS5 and the embed queue kept by triggers).
 * - Vector throughput: 384-dimensional vectors/s stored as the embedder stores them (batches of 32). The
 *   vectors are seeded random unit vectors, NOT a model's: all-MiniLM-L6-v2 cannot be downloaded here,
 *   and the model's own time is GPU-worker time outside this figure.
 * - Retrieval latency p50/p95/p99 for full text alone (what /ask does without a model: top 5) and for
 *   full text + vectors fused by RRF (top 5 of 20 candidates per list), over 10 of the 20 channels (the
 *   asker's readable ones). The question's embedding (a one-step GPU job) is not in this figure.
 * - Index size on disk: the database file after a WAL checkpoint, before and after the vectors.
 *
 * The questions are drawn from the messages' own Zipf-like vocabulary, so most of their words are
 * common ones: a harder mix than real questions, whose common words are mostly stopwords.
 *
 * Run: npx tsx bench/knowledge.ts [--messages 100000] [--queries 300]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SqliteStore } from '../src/engine/store/sqlite-store.js';
import { withoutCommonTerms } from '../src/knowledge/common-terms.js';
import { ftsQuery } from '../src/knowledge/fts-query.js';
import { MessageIndex } from '../src/knowledge/message-index.js';
import { SemanticSearch } from '../src/knowledge/semantic-search.js';
import type { IndexedMessage } from '../src/knowledge/types.js';
import { VectorIndex } from '../src/knowledge/vector-index.js';
import { seededRandom } from '../test/fixtures/seeded-random.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const MESSAGES = arg('messages', 100_000);
const QUERIES = arg('queries', 300);
const DIMS = 384;
const CHANNELS = Array.from({ length: 20 }, (_, i) => `C${String(i).padStart(4, '0')}`);
const READABLE = CHANNELS.slice(0, 10);
const PAGE = 200;
const VECTOR_BATCH = 32;
const TOP_K = 5;

const rand = seededRandom(17);

/** A vocabulary of 5,000 made-up words, drawn Zipf-like (as words in chat are). */
const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'ze', 'pa', 'qu', 'ba', 'do', 'fe', 'gi', 'ho', 'ju', 'wy'];
const VOCAB = Array.from({ length: 5000 }, () => {
  const n = 2 + Math.floor(rand() * 3);
  return Array.from({ length: n }, () => SYLLABLES[Math.floor(rand() * SYLLABLES.length)]).join('');
});
const CUMULATIVE = (() => {
  const w = VOCAB.map((_, i) => 1 / (i + 1));
  const total = w.reduce((a, b) => a + b, 0);
  let acc = 0;
  return w.map((x) => (acc += x / total));
})();
function word(): string {
  const r = rand();
  let lo = 0;
  let hi = CUMULATIVE.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (CUMULATIVE[mid]! < r) lo = mid + 1;
    else hi = mid;
  }
  return VOCAB[lo]!;
}
const sentence = (min: number, max: number): string => Array.from({ length: min + Math.floor(rand() * (max - min + 1)) }, word).join(' ');

function unitVector(): Float32Array {
  const v = new Float32Array(DIMS);
  let norm = 0;
  for (let i = 0; i < DIMS; i++) {
    // Sum of uniforms: near enough to Gaussian for directions spread over the sphere.
    const x = rand() + rand() + rand() - 1.5;
    v[i] = x;
    norm += x * x;
  }
  norm = Math.sqrt(norm);
  for (let i = 0; i < DIMS; i++) v[i]! /= norm;
  return v;
}

function percentiles(xs: number[]): { p50: number; p95: number; p99: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MB`;
const ms = (x: number): string => `${x.toFixed(2)} ms`;

async function main(): Promise<void> {
  const loadBefore = loadavg()[0]!;
  const dir = mkdtempSync(join(tmpdir(), 'hearth-bench-knowledge-'));
  const path = join(dir, 'hearth.db');
  const store = SqliteStore.open(path);
  try {
    const db = store.database;
    const index = new MessageIndex(db);
    const fileSize = (): number => {
      db.pragma('wal_checkpoint(TRUNCATE)');
      return statSync(path).size;
    };
    const empty = fileSize();

    // Backfill: pages of 200 messages with their cursor, as the Slack backfill writes them.
    const t0 = performance.now();
    for (let start = 0; start < MESSAGES; start += PAGE) {
      const page: IndexedMessage[] = [];
      for (let i = start; i < Math.min(MESSAGES, start + PAGE); i++) {
        const channel = CHANNELS[i % CHANNELS.length]!;
        page.push({ platform: 'slack', workspace: 'T1', channel, messageId: `${1_700_000_000 + i}.000100`, author: `U${i % 300}`, at: 1_700_000_000_000 + i * 60_000, text: sentence(4, 40) });
      }
      index.savePage({ platform: 'slack', workspace: 'T1', channel: page[0]!.channel }, page, { cursor: `page-${start}`, lastSyncAt: Date.now() });
    }
    const backfillS = (performance.now() - t0) / 1000;
    const ftsSize = fileSize();

    // Vectors, as the embedder stores a finished job's batch.
    const vectors = new VectorIndex(db, 'bench:random-384');
    const t1 = performance.now();
    let stored = 0;
    for (;;) {
      const batch = vectors.pending(VECTOR_BATCH);
      if (batch.length === 0) break;
      stored += vectors.save(batch.map((m) => ({ ...m, vector: unitVector() })));
    }
    const vectorS = (performance.now() - t1) / 1000;
    const vecSize = fileSize();

    // Retrieval: questions of 3–8 words drawn as messages are.
    const questions = Array.from({ length: QUERIES }, () => sentence(3, 8));
    const qvectors = questions.map(() => unitVector());
    const scope = { platform: 'slack' as const, workspace: 'T1', channels: READABLE };
    const hybrid = new SemanticSearch({ index, vectors, embedder: { embedQuestion: async () => undefined } });
    // Warm-up: the first queries read pages into the cache, as a running hearth has them.
    for (let i = 0; i < 20; i++) {
      index.search(ftsQuery(questions[i]!), scope, TOP_K);
      vectors.search(qvectors[i]!, scope, 20);
    }
    const ftsTimes: number[] = [];
    const hybridTimes: number[] = [];
    const vecTimes: number[] = [];
    // CPU time of this process per question as well: on a shared machine, wall time includes waiting for a core.
    const ftsCpu: number[] = [];
    const hybridCpu: number[] = [];
    const cpuMs = (since: NodeJS.CpuUsage): number => {
      const d = process.cpuUsage(since);
      return (d.user + d.system) / 1000;
    };
    let ftsFound = 0;
    let allCommon = 0;
    for (let i = 0; i < QUERIES; i++) {
      // As KnowledgeBase asks: the question's words, those in more than 5% of messages left out.
      const match = withoutCommonTerms(ftsQuery(questions[i]!), index);
      const ca = process.cpuUsage();
      const a = performance.now();
      const hits = index.search(match, scope, TOP_K);
      ftsTimes.push(performance.now() - a);
      ftsCpu.push(cpuMs(ca));
      if (hits.length > 0) ftsFound++;
      const cb = process.cpuUsage();
      const b = performance.now();
      const text = index.search(match, scope, 20);
      const c = performance.now();
      const near = vectors.search(qvectors[i]!, scope, 20);
      vecTimes.push(performance.now() - c);
      const fused = hybrid.fuse(text, near, TOP_K);
      hybridTimes.push(performance.now() - b);
      hybridCpu.push(cpuMs(cb));
      if (fused.length !== TOP_K) throw new Error(`hybrid search gave ${fused.length} hits`);
      if (match === '') allCommon++;
    }
    const fts = percentiles(ftsTimes);
    const hyb = percentiles(hybridTimes);
    const vec = percentiles(vecTimes);
    const ftsC = percentiles(ftsCpu);
    const hybC = percentiles(hybridCpu);

    const lines = [
      `bench/knowledge — ${MESSAGES.toLocaleString('en')} messages in ${CHANNELS.length} channels, ${QUERIES} questions over ${READABLE.length} readable channels`,
      `  backfill (FTS5 + embed queue, pages of ${PAGE}, synchronous=FULL): ${(MESSAGES / backfillS).toFixed(0)} messages/s (${backfillS.toFixed(1)} s)`,
      `  vectors stored (${DIMS}-dim, seeded random, batches of ${VECTOR_BATCH}): ${(stored / vectorS).toFixed(0)} vectors/s (${vectorS.toFixed(1)} s, ${stored} kept)`,
      `  retrieval, full text alone (top ${TOP_K}):          p50 ${ms(fts.p50)}  p95 ${ms(fts.p95)}  p99 ${ms(fts.p99)}  (${ftsFound}/${QUERIES} found something; ${allCommon} had only common words)`,
      `  retrieval, full text + vectors, RRF (top ${TOP_K}): p50 ${ms(hyb.p50)}  p95 ${ms(hyb.p95)}  p99 ${ms(hyb.p99)}`,
      `  CPU time per question (this process), full text: p50 ${ms(ftsC.p50)}  p95 ${ms(ftsC.p95)};  full text + vectors: p50 ${ms(hybC.p50)}  p95 ${ms(hybC.p95)}`,
      `    of which the vector KNN (k=20):               p50 ${ms(vec.p50)}  p95 ${ms(vec.p95)}  p99 ${ms(vec.p99)}`,
      `  size on disk: empty ${mb(empty)}, with messages + FTS5 ${mb(ftsSize)} (${((ftsSize - empty) / MESSAGES).toFixed(0)} B/message), with vectors ${mb(vecSize)} (${((vecSize - ftsSize) / MESSAGES).toFixed(0)} B/vector)`,
      `  machine: ${cpus().length} cores, load average ${loadBefore.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at end (other work shares these cores)`,
      `  target: retrieval p95 ≤ 50 ms — full text ${fts.p95 <= 50 ? 'met' : 'NOT met'}, hybrid ${hyb.p95 <= 50 ? 'met' : 'NOT met'}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
