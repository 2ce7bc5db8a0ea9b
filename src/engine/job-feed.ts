import type { EngineEvent, JobRecord, Json, Result } from './types.js';

/**
 * Where hearth stands as a whole:
 * - `starting`: the executor is still learning its models (a GPU worker can take seconds). Jobs for a
 *   model the config names are accepted, stored and told `queued` with `starting: true`; they run once
 *   the models are up.
 * - `ready`: jobs are scheduled as they come.
 * - `stopping`: hearth is shutting down; new jobs are refused with SHUTTING_DOWN.
 */
export type Readiness = 'starting' | 'ready' | 'stopping';

/**
 * What a platform adapter needs from the engine, and nothing more: the event stream, a job's record,
 * a place to record what it posted, a way to confirm that a job's end reached its owner, and whether
 * hearth is up. Adapters depend on this rather than the whole engine, so the engine's internals can
 * change without touching them, and an adapter can be tested against a small fake feed.
 *
 * Adapters never poll: every change of a job arrives through `subscribe`, every change of readiness
 * through `onReadiness`.
 */
export interface JobFeed {
  /**
   * Subscribes to every job's events (queued, started, progress, token, preview, result, failed,
   * cancelled), in the order they happen. Returns the unsubscribe function. A listener that throws
   * does not stop the others; its error goes to the engine's error report.
   */
  subscribe(listener: (e: EngineEvent) => void): () => void;

  /** The job as it stands now (live while queued or running, else as stored), or undefined if unknown. */
  getJob(jobId: string): JobRecord | undefined;

  /**
   * Replaces a job's origin, durably: an adapter records there what it has posted (follow-up message
   * ids) and what it is posting, so after a restart it can tidy them up or continue them. Accepted
   * while the job is queued or running, and after it ended until its end is delivered (the final
   * render may post one more message: its intent and id are recorded like any other). ALREADY_ENDED
   * (with `deliveredAt`) once the end was delivered; NOT_FOUND for an id hearth does not know.
   */
  updateOrigin(jobId: string, origin: Json): Result<JobRecord>;

  /**
   * Records that the end of an ended job (its result, failure or cancel) reached its owner: call it
   * once the final message was sent, or the platform refused it for good (the message was deleted).
   * A job that ended without this is published again after the next restart (its final event, to
   * every subscriber), a bounded number of times. NOT_FOUND for an unknown job; INVALID_INPUT for a
   * job that has not ended. Marking twice changes nothing.
   */
  markDelivered(jobId: string): Result<JobRecord>;

  /** Where hearth stands now. */
  readiness(): Readiness;

  /**
   * Calls the listener on each change of readiness (not with the current value: read `readiness()`
   * for that). Returns the unsubscribe function.
   */
  onReadiness(listener: (readiness: Readiness) => void): () => void;
}
