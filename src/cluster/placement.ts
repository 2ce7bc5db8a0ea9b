/**
 * Where a job goes: among the live workers that serve its model, are not leaving and have room, the
 * one with the most room; on a tie, the one placed on longest ago (spreads work). Shared by the
 * ClusterExecutor and bench/cluster-sim.ts, so the simulation places exactly as the coordinator does.
 */
export interface PlacementCandidate {
  models: ReadonlyArray<{ model: string }>;
  capacity: number;
  /** Jobs placed there and not finished. */
  assigned: number;
  draining: boolean;
  /** When it was last placed on (0: never). */
  lastPlacedAt: number;
}

/** The index of the worker to place a job of `model` on, or -1 when none has room. */
export function chooseWorker(workers: readonly PlacementCandidate[], model: string): number {
  let best = -1;
  let bestRoom = 0;
  for (let i = 0; i < workers.length; i++) {
    const w = workers[i]!;
    if (w.draining || !w.models.some((m) => m.model === model)) continue;
    const room = w.capacity - w.assigned;
    if (room <= 0) continue;
    if (best < 0 || room > bestRoom || (room === bestRoom && w.lastPlacedAt < workers[best]!.lastPlacedAt)) {
      best = i;
      bestRoom = room;
    }
  }
  return best;
}
