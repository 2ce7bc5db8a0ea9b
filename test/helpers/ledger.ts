/**
 * The invariant of the fault-injection suite, read from a store (read-only) and the GPU worker's step
 * log (test/fixtures/fault-runner-module.ts). For every job J, with
 *
 *   R(J)  = rows of the `usage` ledger for J,
 *   S(J)  = steps of J the worker completed (step log, every attempt),
 *   B(J)  = steps of J that failed: transitions out of `running` noted "worker crashed…" (the worker
 *           died in the step), plus one if J failed while running (a second crash, or a runner's
 *           error): the engine charges the time of a failed step, once,
 *   K(J)  = kills of the main process while J ran: transitions noted "hearth restarted while it ran",
 *           plus one if the store (of a hearth killed just now) still says `running` (a step the worker
 *           completed just then may go uncharged: nobody was left to charge it),
 *
 * the ledger holds when:
 *   1. sum(usage.gpu_seconds of J) = jobs.used_s of J (the ledger and the job agree);
 *   2. R(J) ≤ S(J) + B(J): no step is charged twice (a charge is a completed step or one the worker died in);
 *   3. R(J) ≥ S(J) − K(J): no completed step goes uncharged, except one in flight when hearth was killed;
 *   4. for a job that is done: its final attempt's rows (usage.at > started_at) = the steps the worker
 *      logged after its last begin = the steps the job takes: the answer was charged exactly once;
 *   5. no usage row names a job the store does not hold, and a job reaches an end state at most once.
 *
 * A job breaking 2 or 4 (charged more than it ran) is "double-charged"; one breaking 3 or 4 (ran more
 * than it was charged, beyond the kills) "under-charged".
 */
import type Database from 'better-sqlite3';
import { readDb, readStepLog } from './app-host-process.js';

export interface LedgerJob {
  id: string;
  user_id: string;
  kind: string;
  state: string;
  attempts: number;
  crashes: number;
  used_s: number;
  started_at: number | null;
  delivered_at: number | null;
  payload: string;
  error: string | null;
  origin: string | null;
}

export interface LedgerReport {
  jobs: LedgerJob[];
  problems: string[];
  doubleCharged: number;
  underCharged: number;
  usageRows: number;
  stepsRun: number;
}

/** The steps a job takes with the simulated runners: an image its `steps`, a caption one, a chat a word of `echo: question` each (at most 40). */
export function expectedSteps(job: LedgerJob): number {
  const p = JSON.parse(job.payload) as { steps?: unknown; question?: unknown };
  if (job.kind === 'image') return Number(p.steps);
  if (job.kind === 'caption') return 1;
  return Math.min(40, `echo: ${String(p.question)}`.split(/\s+/).length);
}

export function checkLedger(dbPath: string, stepLogPath: string): LedgerReport {
  const log = readStepLog(stepLogPath);
  const begins = new Map<string, number>();
  const steps = new Map<string, number>();
  const lastAttemptSteps = new Map<string, number>();
  for (const l of log) {
    if (!l.job) continue;
    if (l.ev === 'begin') {
      begins.set(l.job, (begins.get(l.job) ?? 0) + 1);
      lastAttemptSteps.set(l.job, 0);
    } else if (l.ev === 'step') {
      steps.set(l.job, (steps.get(l.job) ?? 0) + 1);
      lastAttemptSteps.set(l.job, (lastAttemptSteps.get(l.job) ?? 0) + 1);
    }
  }
  return readDb(dbPath, (db) => report(db, steps, lastAttemptSteps));
}

function report(db: Database.Database, steps: Map<string, number>, lastAttemptSteps: Map<string, number>): LedgerReport {
  const jobs = db
    .prepare<[], LedgerJob>('SELECT id, user_id, kind, state, attempts, crashes, used_s, started_at, delivered_at, payload, error, origin FROM jobs ORDER BY seq')
    .all();
  const usage = db.prepare<[], { job_id: string; gpu_seconds: number; at: number }>('SELECT job_id, gpu_seconds, at FROM usage ORDER BY id').all();
  const transitions = db.prepare<[], { job_id: string; from_state: string | null; to_state: string; note: string | null }>('SELECT job_id, from_state, to_state, note FROM job_transitions ORDER BY id').all();
  const problems: string[] = [];
  const ids = new Set(jobs.map((j) => j.id));
  for (const u of usage) if (!ids.has(u.job_id)) problems.push(`a usage row for job ${u.job_id}, which the store does not hold`);
  let doubleCharged = 0;
  let underCharged = 0;
  for (const j of jobs) {
    const rows = usage.filter((u) => u.job_id === j.id);
    const t = transitions.filter((x) => x.job_id === j.id);
    const R = rows.length;
    const S = steps.get(j.id) ?? 0;
    const crashedIn = t.filter((x) => x.from_state === 'running' && x.note?.startsWith('worker crashed')).length;
    const failedInStep = t.some((x) => x.from_state === 'running' && x.to_state === 'failed') ? 1 : 0;
    const B = crashedIn + failedInStep;
    // A job still `running` in the store of a killed hearth is one whose recovery is yet to come.
    const K = t.filter((x) => x.note === 'hearth restarted while it ran').length + (j.state === 'running' ? 1 : 0);
    const sum = rows.reduce((a, u) => a + u.gpu_seconds, 0);
    const who = `${j.kind} job ${j.id} (${j.state}${j.error ? ` ${j.error}` : ''}, attempts ${j.attempts}, crashes ${j.crashes}; ${t.map((x) => `${x.from_state}→${x.to_state} ${x.note ?? ''}`).join(' | ')})`;
    if (Math.abs(sum - j.used_s) > 1e-9) problems.push(`${who}: ledger ${sum} s, job used_s ${j.used_s} s`);
    let double = false;
    let under = false;
    if (R > S + B) {
      double = true;
      problems.push(`${who}: ${R} charges for ${S} steps run and ${B} crashed`);
    }
    if (R < S - K) {
      under = true;
      problems.push(`${who}: ${R} charges for ${S} steps run, ${K} kills of hearth`);
    }
    if (j.state === 'done') {
      const finalRows = rows.filter((u) => j.started_at !== null && u.at > j.started_at).length;
      const finalSteps = lastAttemptSteps.get(j.id) ?? 0;
      const want = expectedSteps(j);
      if (finalRows !== want || finalSteps !== want) {
        if (finalRows > want) double = true;
        else under = true;
        problems.push(`${who}: its answer took ${want} steps; the worker ran ${finalSteps} in its last attempt, ${finalRows} were charged`);
      }
    }
    const ends = t.filter((x) => ['done', 'failed', 'cancelled'].includes(x.to_state)).length;
    if (ends > 1) problems.push(`${who}: ended ${ends} times`);
    if (double) doubleCharged++;
    if (under) underCharged++;
  }
  return { jobs, problems, doubleCharged, underCharged, usageRows: usage.length, stepsRun: [...steps.values()].reduce((a, b) => a + b, 0) };
}
