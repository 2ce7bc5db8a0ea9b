/**
 * The durable store, as interfaces by concern: {@link JobRecordStore} (jobs, their transitions and
 * recovery, the scheduler's virtual times), {@link UsageStore} (the GPU-seconds ledger) and
 * {@link ConversationStore} (chat history). Each user of the store names the part it needs;
 * {@link HearthStore} is all of them. `SqliteStore` is the implementation (better-sqlite3). Every method is synchronous and each one is a single
 * transaction: when a method returns, what it wrote is committed (and, with `synchronous=FULL`, on disk).
 *
 * Times are epoch milliseconds passed in by the caller (the engine injects its clock), so tests and
 * replays control time. The store never reads the wall clock.
 *
 * Errors: an unknown job id throws `HearthError('NOT_FOUND')`; a state change the job's current state
 * does not allow (e.g. starting a cancelled job) throws `HearthError('INVALID_INPUT')` with
 * `facts: { jobId, state, expected }`. Both mean a bug in the caller, not a user mistake.
 */
import type { ErrorInfo, JobRecord, JobResult, JobSpec, JobState, Json } from '../types.js';

/**
 * A job to insert: the command's spec plus the engine's id and estimate, and whether its submitter
 * is an admin (remembered, so the daily limit is checked the same way when it starts).
 */
export type NewJob = JobSpec & { id: string; estimateSeconds: number; admin?: boolean };

/**
 * The payload keys that hold uploaded bytes (a caption job's `imageBase64`) or copied message text (an
 * embed job's `texts`, already kept in the knowledge index): input only. They are
 * removed from the stored payload when the job ends (the rest of the payload stays: its question,
 * its options), and from a person's ended jobs when they ask hearth to forget.
 */
export const UPLOADED_BYTES_KEYS: readonly string[] = ['imageBase64', 'initImageBase64', 'texts'];

/** The states a job ends in. Once in one of these, a job never changes again. */
export type FinalState = 'done' | 'failed' | 'cancelled';

export interface JobFilter {
  /** Only jobs in one of these states (all states when absent or empty). */
  states?: readonly JobState[];
  userId?: string;
  /** At most this many jobs (a positive integer); all when absent. */
  limit?: number;
  /** `seq` (default): FIFO, oldest first. `recent`: newest first. */
  order?: 'seq' | 'recent';
}

export interface JobOutcome {
  state: FinalState;
  /** What the job produced; for `cancelled`, the partial result if any. */
  result?: JobResult | null;
  error?: ErrorInfo | null;
  /**
   * The job ends because the worker died under it (again): this crash is counted too, in the same
   * transaction, so the record's `crashes` says how many times the job took the worker down.
   */
  crashed?: boolean;
}

export interface RecoveryReport {
  /** Jobs that were running when the process stopped, queued again (no crash counted against them). */
  requeued: JobRecord[];
}

export interface UserSeconds {
  userId: string;
  seconds: number;
}

export interface UsageBucket {
  userId: string;
  /** Start of the bucket, epoch ms, a multiple of the bucket size (so hours and UTC days line up). */
  bucketStart: number;
  seconds: number;
}

export interface VirtualTime {
  userId: string;
  vtime: number;
}

export type TurnRole = 'system' | 'user' | 'assistant' | 'context';

export interface NewTurn {
  role: TurnRole;
  content: string;
  meta?: Record<string, Json>;
}

export interface Turn {
  id: number;
  conversationId: string;
  /** 1, 2, 3, … within the conversation, in the order the turns were appended. */
  seq: number;
  role: TurnRole;
  content: string;
  meta: Record<string, Json> | null;
  at: number;
}

/** Jobs as the engine keeps them: insert, read, state changes, recovery after a restart, virtual times. */
export interface JobRecordStore {
  /**
   * Inserts a job as `queued`, counts it in its user's pending jobs (creating the user if new) and
   * records the transition, in one transaction. Returns after the commit: the job is durable before
   * its owner is told it is queued. Throws `INVALID_INPUT` for a duplicate id, a weight that is not
   * positive or an estimate that is negative.
   */
  insertJob(job: NewJob, now: number): JobRecord;

  getJob(id: string): JobRecord | undefined;

  /** Jobs matching the filter; FIFO by default (the order a restart resumes queued jobs in). */
  listJobs(filter?: JobFilter): JobRecord[];

  /** The user's queued + running jobs (for the per-user queue limit). */
  countActive(userId: string): number;

  /** Replaces the input of a job that has not started (`queued` only; else `INVALID_INPUT`). */
  updatePayload(id: string, payload: Json): JobRecord;

  /**
   * Replaces where a job answers (an adapter recording the messages it posted): while queued or
   * running, and once ended until its end is delivered (the final render may post once more).
   */
  updateOrigin(id: string, origin: Json): JobRecord;

  /** `queued` → `running`: counts an attempt and sets `startedAt`. */
  markRunning(id: string, now: number): JobRecord;

  /**
   * `running` → `queued`, to be tried again; `startedAt` is cleared. With `crashed`, the job's crash
   * count goes up (the worker died under it); the caller decides, from `crashes`, when to fail it instead.
   */
  markQueued(id: string, now: number, note: string, opts?: { crashed?: boolean }): JobRecord;

  /**
   * `queued` or `running` → a final state: sets `finishedAt`, result and error, takes the job out
   * of its user's pending count, and drops uploaded bytes from its payload ({@link UPLOADED_BYTES_KEYS}).
   * Finishing a job that has already finished changes nothing and returns it as it is: the first
   * outcome wins, so a job is never completed twice.
   */
  finish(id: string, outcome: JobOutcome, now: number, note?: string): JobRecord;

  /**
   * Records that the end of an ended job reached its owner (the adapter sent its final message). The
   * first time counts; later calls change nothing. `INVALID_INPUT` for a job that has not ended.
   */
  markDelivered(id: string, now: number): JobRecord;

  /**
   * Ended jobs whose end has not been confirmed as delivered and that hearth has not given up on,
   * oldest first. Jobs with no origin (nobody to deliver to) are not listed.
   */
  listUndelivered(): Array<JobRecord & { redeliveries: number }>;

  /** Counts one more attempt to deliver the job's end after a restart. */
  noteRedelivery(id: string): void;

  /** Stops trying to deliver the job's end (too many restarts, or too old): it is not listed again. */
  abandonDelivery(id: string, now: number): void;

  /**
   * Removes uploaded bytes ({@link UPLOADED_BYTES_KEYS}) from the payloads of the user's ended jobs
   * (/forget). Returns how many jobs held some.
   */
  forgetUploads(userId: string): number;

  /**
   * Deletes ended jobs (with their transitions) whose result their submitter has taken and keeps
   * elsewhere: an embed job's vectors go into the knowledge index, so its row would only pile up
   * (a 100,000-message backfill is thousands of jobs). The usage ledger keeps what they used. Jobs of
   * these ids that have not ended, or do not exist, are left alone. One transaction; returns how many went.
   */
  deleteEnded(ids: readonly string[]): number;

  /** Saves the fair scheduler's virtual times (creating users that are new), in one transaction. */
  saveVirtualTimes(entries: readonly VirtualTime[]): void;

  /** Every known user's saved virtual time. */
  loadVirtualTimes(): Map<string, number>;

  /**
   * Call once at start, before running anything. Every job still `running` was running when the main
   * process stopped (killed, power cut): it is queued again, and no crash is counted against it (the
   * main process does not run jobs, so none of them can be blamed for its death; a worker death during
   * a step is counted by the engine, against that step's jobs only, through `markQueued`). Users'
   * pending counts are then recomputed from the jobs. One transaction. Jobs that were `queued` stay as
   * they are (find them with `listJobs`).
   */
  recoverAfterRestart(now: number): RecoveryReport;
}

/** The GPU-seconds ledger: what each user's jobs really used. */
export interface UsageStore {
  /**
   * Charges GPU-seconds: one ledger row for the user, and the job's `usedSeconds` grows by the same
   * amount, in one transaction. Finished jobs may still be charged (a last step measured after the end).
   * Throws `INVALID_INPUT` for a negative or non-finite amount.
   */
  addUsage(userId: string, jobId: string, gpuSeconds: number, now: number): void;

  /** The user's GPU-seconds charged at or after `sinceMs` (e.g. the start of the UTC day for a daily limit). */
  usageSince(userId: string, sinceMs: number): number;

  /** GPU-seconds per user charged at or after `sinceMs`, most used first. */
  usageByUser(sinceMs: number): UserSeconds[];

  /**
   * GPU-seconds per user and time bucket charged at or after `sinceMs`, for a chart. Buckets are
   * aligned to multiples of `bucketMs` since the epoch (the first may start before `sinceMs`);
   * empty buckets are absent. Ordered by bucket, then user.
   */
  usageBuckets(sinceMs: number, bucketMs: number): UsageBucket[];
}

/** Conversation history, per conversation (a thread, a DM). */
export interface ConversationStore {
  /** Appends a turn (creating the conversation if new) and returns it with its `seq`. */
  appendTurn(conversationId: string, turn: NewTurn, now: number): Turn;

  /** The conversation's turns, oldest first; with `limit`, only the latest `limit` of them (still oldest first). */
  getTurns(conversationId: string, limit?: number): Turn[];

  /** Deletes the conversation's turns and returns how many there were. */
  clearConversation(conversationId: string): number;
}

/** The whole store: every part, and closing it. */
export interface HearthStore extends JobRecordStore, UsageStore, ConversationStore, Disposable {
  /** Closes the database. Safe to call twice; any other call afterwards throws. */
  close(): void;
}

/**
 * @deprecated The whole store under its old name, kept so callers compile while they move to the
 * part they need ({@link JobRecordStore}, {@link UsageStore}, {@link ConversationStore}) or {@link HearthStore}.
 */
export type JobStore = HearthStore;
