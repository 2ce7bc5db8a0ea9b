/**
 * The order in which the fair scheduler (the real VirtualTimeScheduler) would first start a set of
 * queued jobs, replayed offline from what a store holds after a kill: the queued jobs in arrival
 * order, each user's saved virtual time, and each job's steps at a set cost per step. Kill tests
 * compare the order jobs really started in after the restart with it.
 */
import { VirtualTimeScheduler } from '../../src/engine/scheduler/virtual-time-scheduler.js';

export interface QueuedJob {
  id: string;
  userId: string;
  model: string;
  seq: number;
  steps: number;
}

export function fairStartOrder(
  jobs: readonly QueuedJob[],
  vtimes: ReadonlyMap<string, number>,
  opts: { secondsPerStep: Record<string, number>; maxBatch: Record<string, number>; fairnessLagSeconds?: number },
): string[] {
  const policy = new VirtualTimeScheduler({ fairnessLagSeconds: opts.fairnessLagSeconds ?? 30 });
  const remaining = new Map<string, number>();
  const byId = new Map(jobs.map((j) => [j.id, j]));
  for (const j of [...jobs].sort((a, b) => a.seq - b.seq)) {
    const batchable = (opts.maxBatch[j.model] ?? 1) > 1;
    policy.add({ id: j.id, userId: j.userId, model: j.model, batchable, weight: 1, seq: j.seq, remainingSeconds: j.steps * (opts.secondsPerStep[j.model] ?? 1) });
    remaining.set(j.id, j.steps);
  }
  policy.restoreVirtualTimes(new Map(vtimes));
  const begun = new Set<string>();
  const order: string[] = [];
  for (let guard = 0; guard < 100_000; guard++) {
    const pick = policy.pick({
      isResident: () => true,
      fitsWithoutSwap: () => true,
      maxBatch: (m) => opts.maxBatch[m] ?? 1,
      begun: (m) => [...begun].filter((id) => byId.get(id)?.model === m),
    });
    if (!pick) return order;
    const seconds = opts.secondsPerStep[pick.model] ?? 1;
    for (const id of pick.jobIds) {
      if (!begun.has(id)) {
        begun.add(id);
        order.push(id);
      }
    }
    policy.charge(pick.jobIds.map((id) => ({ userId: byId.get(id)!.userId, jobId: id, seconds: seconds / pick.jobIds.length })));
    for (const id of pick.jobIds) {
      const left = (remaining.get(id) ?? 1) - 1;
      remaining.set(id, left);
      if (left <= 0) {
        policy.remove(id);
        begun.delete(id);
      }
    }
  }
  throw new Error('the replay did not end');
}
