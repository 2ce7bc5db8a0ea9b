/**
 * Keeps the message vectors up to date by running embed jobs on the GPU worker through the engine's
 * fair scheduler, and embeds questions for semantic search.
 *
 * Catching up (backfill, live messages, edits) is owned by {@link INDEX_OWNER}, a system user that is
 * no person: what it uses is recorded under its own id (never charged to anyone's share or daily
 * limit: its jobs are submitted as an admin's), and its weight is {@link INDEX_WEIGHT}, so while
 * people are backlogged it gets about a tenth of the GPU, one short batch step at a time, and
 * all of it when nobody else wants it. One job is in flight at a time, so it never fills the queue.
 *
 * A question's own embedding is a one-text job of {@link QUESTION_OWNER} at weight
 * {@link QUESTION_WEIGHT}, rather than a model loaded in the main process. Reasons: the model libraries
 * live in the GPU worker (ONNX Runtime's `run` blocks its thread, which in the main process would
 * stall every adapter), the one loaded copy serves both (no second ~90 MB model), and a cluster
 * worker embeds as well as a local one. The scheduler lifts a newly active user to the current
 * minimum virtual time and this one's steps cost milliseconds, so with its high weight the question
 * goes next after the step that is running: it waits at most one step. It is bounded by
 * `questionTimeoutMs` all the same: past it, the question is answered from full-text search alone.
 *
 * Jobs left over from before a restart still run; their results are not read (they carry no message
 * ids), and the messages they held are still queued, so they are simply embedded again.
 *
 * An embed job's result (its vectors) is taken from its end event and kept in the vector index, so
 * once it is done its stored row is deleted ({@link EmbedJobRunner.discard}): a 100,000-message
 * backfill is thousands of jobs whose rows and results would otherwise sit in the jobs table until
 * retention. The usage ledger keeps what they used. Failed and cancelled ones stay for retention
 * (what went wrong is worth seeing; a cancelled step may still be charged after its end).
 */
import type { Actor } from '../engine/index.js';
import type { EngineEvent, JobEvent, JobRecord, JobSpec, Result } from '../engine/types.js';
import { clipForEmbedding, embedVectorsOf, MAX_EMBED_TEXTS } from '../jobs/embed.js';
import type { VectorIndex } from './vector-index.js';

/** The system user that owns catching-up embed jobs. */
export const INDEX_OWNER = 'system:knowledge-index';
/** Its fair-share weight: a tenth of a person's while people wait. */
export const INDEX_WEIGHT = 0.1;
/** The system user that owns question embeddings. */
export const QUESTION_OWNER = 'system:knowledge-question';
/** Its weight: its one-step jobs go ahead of the people's queues. */
export const QUESTION_WEIGHT = 100;

/** What the embedder needs of the engine (the Engine has it). */
export interface EmbedJobRunner {
  submit(spec: JobSpec, opts?: { admin?: boolean }): Result<JobRecord>;
  cancel(jobId: string, by: Actor): Result<JobRecord>;
  on(listener: (e: EngineEvent) => void): () => void;
  /** Deletes ended jobs whose results were taken (the Engine's `discard`). */
  discard(jobIds: readonly string[], by: Actor): number;
}

export interface KnowledgeEmbedderOptions {
  jobs: EmbedJobRunner;
  index: VectorIndex;
  /** The embedding model's id in the engine (`embedding`). */
  model: string;
  /** Messages per job (`models.embedding.batchSize`). */
  batchSize: number;
  /** How long a question waits for its embedding before it is answered from full text alone. Default 3000. */
  questionTimeoutMs?: number;
  /** How often an idle embedder looks for new messages. Default 2000 ms. */
  idlePollMs?: number;
  /** After a failed job, the wait before the next. Default 30 s. */
  retryMs?: number;
  report(error: unknown, where: string): void;
}

type Ended = { type: 'result'; event: Extract<JobEvent, { type: 'result' }> } | { type: 'failed' | 'cancelled'; message: string };

export class KnowledgeEmbedder {
  readonly #o: Required<Omit<KnowledgeEmbedderOptions, 'report'>> & Pick<KnowledgeEmbedderOptions, 'report'>;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #idleWaiters: Array<() => void> = [];
  readonly #offDone: () => void;

  constructor(opts: KnowledgeEmbedderOptions) {
    this.#o = { questionTimeoutMs: 3000, idlePollMs: 2000, retryMs: 30_000, ...opts, batchSize: Math.min(MAX_EMBED_TEXTS, Math.max(1, opts.batchSize)) };
    // Every done job of the two system owners, this run's and those left over from before a restart:
    // its vectors travel in the event, so its row goes. In a microtask, so that every other listener
    // of this event (the metrics read the job's record at its end) has seen it first.
    this.#offDone = opts.jobs.on((e) => {
      if (e.event.type !== 'result' || (e.userId !== INDEX_OWNER && e.userId !== QUESTION_OWNER)) return;
      queueMicrotask(() => this.#discard(e.jobId, e.userId));
    });
  }

  /** Starts catching up in the background (idempotent). */
  start(): void {
    this.#loop ??= this.#run().catch((e: unknown) => this.#o.report(e, 'knowledge: embedding loop'));
  }

  /** New messages may be waiting: look now instead of at the next poll. */
  wake(): void {
    this.#wake?.();
  }

  /** Resolves when nothing awaits an embedding (or the embedder stops). */
  whenCaughtUp(): Promise<void> {
    if (this.#o.index.pendingCount() === 0 || this.#stop.signal.aborted) return Promise.resolve();
    this.wake();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops after the job in flight is cancelled. */
  async close(): Promise<void> {
    this.#stop.abort();
    this.#wake?.();
    await this.#loop;
    this.#offDone();
    for (const w of this.#idleWaiters.splice(0)) w();
  }

  #discard(jobId: string, owner: string): void {
    try {
      this.#o.jobs.discard([jobId], { userId: owner, admin: true });
    } catch (e) {
      this.#o.report(e, 'knowledge: deleting a done embed job');
    }
  }

  /** The question's vector, or undefined when it could not be had in time (full-text search then serves alone). */
  async embedQuestion(question: string, signal?: AbortSignal): Promise<Float32Array | undefined> {
    const timeout = AbortSignal.timeout(this.#o.questionTimeoutMs);
    const both = signal ? AbortSignal.any([signal, timeout, this.#stop.signal]) : AbortSignal.any([timeout, this.#stop.signal]);
    const ended = await this.#runJob([clipForEmbedding(question)], QUESTION_OWNER, QUESTION_WEIGHT, both);
    signal?.throwIfAborted();
    if (ended.type !== 'result') return undefined;
    return embedVectorsOf({ kind: 'embed' }, ended.event.result)?.vectors[0];
  }

  async #run(): Promise<void> {
    const stop = this.#stop.signal;
    while (!stop.aborted) {
      const batch = this.#o.index.pending(this.#o.batchSize);
      if (batch.length === 0) {
        for (const w of this.#idleWaiters.splice(0)) w();
        await this.#sleep(this.#o.idlePollMs);
        continue;
      }
      const texts = batch.map((m) => clipForEmbedding(m.text));
      const ended = await this.#runJob(texts, INDEX_OWNER, INDEX_WEIGHT, stop);
      if (stop.aborted) break;
      const vectors = ended.type === 'result' ? embedVectorsOf({ kind: 'embed' }, ended.event.result) : undefined;
      if (!vectors || vectors.vectors.length !== batch.length) {
        this.#o.report(new Error(ended.type === 'result' ? 'an embed job gave no vectors for its texts' : ended.message), 'knowledge: embedding messages');
        await this.#sleep(this.#o.retryMs);
        continue;
      }
      // The text compared on save is the one embedded (clipped), as the index holds it unclipped.
      this.#o.index.save(batch.map((m, i) => ({ id: m.id, text: m.text, vector: vectors.vectors[i]! })));
    }
  }

  /** Submits one embed job and waits for its end; an abort cancels it. */
  #runJob(texts: string[], owner: string, weight: number, signal: AbortSignal): Promise<Ended> {
    return new Promise<Ended>((resolve) => {
      // Set once submitted; events seen before that are held in `early`.
      const job: { id?: string } = {};
      const early: EngineEvent[] = [];
      const finish = (e: Ended): void => {
        off();
        signal.removeEventListener('abort', onAbort);
        resolve(e);
      };
      const onEvent = (e: EngineEvent): void => {
        if (job.id === undefined) {
          early.push(e);
          return;
        }
        if (e.jobId !== job.id) return;
        const ev = e.event;
        if (ev.type === 'result') finish({ type: 'result', event: ev });
        else if (ev.type === 'failed') finish({ type: 'failed', message: `embed job failed: ${ev.error.code}: ${ev.error.message}` });
        else if (ev.type === 'cancelled') finish({ type: 'cancelled', message: 'embed job cancelled' });
      };
      const onAbort = (): void => {
        if (job.id !== undefined) this.#o.jobs.cancel(job.id, { userId: owner, admin: true });
        finish({ type: 'cancelled', message: 'stopped' });
      };
      // Listening before submitting: a job can end before submit's caller hears back.
      const off = this.#o.jobs.on(onEvent);
      if (signal.aborted) return finish({ type: 'cancelled', message: 'stopped' });
      signal.addEventListener('abort', onAbort, { once: true });
      const submitted = this.#o.jobs.submit(
        { kind: 'embed', model: this.#o.model, userId: owner, payload: { texts }, weight, estimatedSteps: 1 },
        { admin: true },
      );
      if (!submitted.ok) return finish({ type: 'failed', message: `embed job refused: ${submitted.error.code}: ${submitted.error.message}` });
      job.id = submitted.value.id;
      for (const e of early.splice(0)) onEvent(e);
    });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref?.();
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = undefined;
        done();
      };
    });
  }
}
