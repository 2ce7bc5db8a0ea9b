import type { RecoveryReport, JobRecordStore } from './store/job-store.js';
import { HearthError, type ErrorInfo, type JobRecord } from './types.js';

/**
 * A death of the GPU worker, by what it was doing:
 * - `load`: loading `model` for the jobs waiting on it (no job is to blame: the model may be);
 * - `step`: running a step of `jobs`, or beginning them: these jobs are to blame;
 * - `elsewhere`: `jobs` were begun (they held runner state, now lost) but were not in the step that
 *   died, or the worker died between steps: they are not to blame.
 */
export type WorkerCrash =
  | { during: 'load'; model: string; reason: string; jobs: readonly JobRecord[] }
  | { during: 'step'; reason: string; jobs: readonly JobRecord[] }
  | { during: 'elsewhere'; reason: string; jobs: readonly JobRecord[] };

/** What a crash means for one job: run it again (counting the crash against it or not), or fail it. */
export type CrashVerdict =
  | { jobId: string; action: 'retry'; blamed: boolean; note: string }
  | { jobId: string; action: 'fail'; error: ErrorInfo; /** The job was in the step that died: this crash counts against it too. */ crashed: boolean };

/**
 * The one place that decides what a crash means for which jobs. The engine's other parts report
 * crashes here and carry out the verdicts; none of them judges a crash on its own.
 *
 * - A job in the step that took the worker down is retried, and failed once it has done so
 *   `maxCrashes` times (default 2: retried once), so one poisonous job cannot stop the GPU forever.
 * - Begun jobs that were not in that step lost their runner state too; they start again, unblamed.
 * - A model whose load takes the worker down is retried, then the jobs that wanted it fail
 *   MODEL_INVALID, so a broken model file cannot keep the queue spinning.
 * - A restart of the main process counts against no job: see {@link CrashPolicy.recover}.
 */
export class CrashPolicy {
  readonly maxCrashes: number;
  readonly #loadCrashes = new Map<string, number>();

  constructor(maxCrashes = 2) {
    if (!Number.isInteger(maxCrashes) || maxCrashes < 1) throw new RangeError(`maxCrashes must be a whole number ≥ 1; got ${maxCrashes}`);
    this.maxCrashes = maxCrashes;
  }

  /** True when the error says the worker died (all its runner state is gone). */
  static isWorkerCrash(e: unknown): e is HearthError {
    return e instanceof HearthError && e.code === 'WORKER_CRASHED';
  }

  judge(crash: WorkerCrash): CrashVerdict[] {
    switch (crash.during) {
      case 'load': {
        const crashes = (this.#loadCrashes.get(crash.model) ?? 0) + 1;
        this.#loadCrashes.set(crash.model, crashes);
        // The waiting jobs were never begun: they simply stay queued for another try.
        if (crashes < this.maxCrashes) return [];
        this.#loadCrashes.delete(crash.model);
        const error: ErrorInfo = {
          code: 'MODEL_INVALID',
          message: `loading model "${crash.model}" stopped the GPU worker ${crashes} times`,
          facts: { model: crash.model, crashes, reason: crash.reason },
        };
        return crash.jobs.map((j) => ({ jobId: j.id, action: 'fail', error, crashed: false }));
      }
      case 'step':
        return crash.jobs.map((j) =>
          j.crashes + 1 >= this.maxCrashes
            ? {
                jobId: j.id,
                action: 'fail',
                crashed: true,
                error: {
                  code: 'WORKER_CRASHED',
                  message: 'this job stopped the GPU worker twice, so it was not tried again',
                  facts: { crashes: j.crashes + 1, reason: crash.reason },
                },
              }
            : { jobId: j.id, action: 'retry', blamed: true, note: `worker crashed: ${crash.reason}` },
        );
      case 'elsewhere':
        return crash.jobs.map((j) => ({ jobId: j.id, action: 'retry', blamed: false, note: `worker restarted: ${crash.reason}` }));
    }
  }

  /** The model loaded: earlier load crashes no longer count against it. */
  loaded(model: string): void {
    this.#loadCrashes.delete(model);
  }

  /**
   * At start, before anything runs: jobs still `running` were running when the main process stopped.
   * The main process runs no job's code, so its death is no job's fault: they are queued again with no
   * crash counted (one transaction in the store). Only a worker death during a step counts, and only
   * against that step's jobs ({@link judge}); otherwise two hard restarts would fail every started job.
   */
  recover(store: Pick<JobRecordStore, 'recoverAfterRestart'>, now: number): RecoveryReport {
    return store.recoverAfterRestart(now);
  }
}
