/**
 * Lets the engine's steps, not node-llama-cpp, decide when a chat decodes its next token.
 *
 * Every job's generation runs as one long `LlamaChat.generateResponse` call; before each
 * `sequence.evaluate()` iteration (one decoded token; the first one also evaluates the prompt) it
 * asks its gate. A step grants each of its jobs a token budget and releases the waiting jobs in
 * rounds: a round starts only when every job of the step is waiting (or done), and all of them are
 * released in the same tick, so their decodes land in one llama.cpp batch. A job that is not in the
 * current step is never released, so it makes no progress.
 */

import { HearthError } from '../../engine/types.js';

/** One job's permission to decode. */
export class TokenGate {
  /** Iterations still allowed in the current step. */
  budget = 0;
  /** Iterations let through in the current step. */
  produced = 0;
  /** Iterations let through since the job began. */
  total = 0;
  /** The generation is over (ended, failed or cancelled); it will not ask again. */
  finished = false;
  private waiter: { resolve: () => void; reject: (reason: unknown) => void } | undefined;
  private abortReason: unknown;

  constructor(private readonly coordinator: StepCoordinator) {}

  get waiting(): boolean {
    return this.waiter !== undefined;
  }

  /** Resolves when the job may decode one more token; rejects once the gate is aborted. */
  acquire(): Promise<void> {
    if (this.abortReason !== undefined) return Promise.reject(this.abortReason);
    return new Promise<void>((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.coordinator.changed();
    });
  }

  /** @internal Lets one iteration through. */
  release(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    this.waiter = undefined;
    this.budget--;
    this.produced++;
    this.total++;
    waiter.resolve();
  }

  /** Makes the pending and every later `acquire` fail with `reason`, so the generation stops. */
  abort(reason: unknown): void {
    this.abortReason ??= reason;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(this.abortReason);
  }

  /** Marks the generation as over; a step waiting on this job goes on without it. */
  finish(): void {
    this.finished = true;
    this.waiter = undefined;
    this.coordinator.changed();
  }
}

interface RunningStep {
  gates: Set<TokenGate>;
  stopping: boolean;
  done: () => void;
}

/** Runs steps over gates: one at a time, in rounds, as described above. */
export class StepCoordinator {
  private current: RunningStep | undefined;
  private releaseScheduled = false;

  createGate(): TokenGate {
    return new TokenGate(this);
  }

  get busy(): boolean {
    return this.current !== undefined;
  }

  /**
   * Grants each gate its budget and resolves when every one has used it, finished, or (after
   * `signal` aborts) come back from the token it was decoding.
   */
  async run(grants: ReadonlyArray<readonly [TokenGate, number]>, signal?: AbortSignal): Promise<void> {
    if (this.current)
      throw new HearthError('RUNNER_FAILED', 'a step is already running on this chat runner; steps run one at a time', {});
    for (const [gate, budget] of grants) {
      gate.budget = budget;
      gate.produced = 0;
    }
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const step: RunningStep = { gates: new Set(grants.map(([g]) => g)), stopping: signal?.aborted ?? false, done };
    this.current = step;
    const onAbort = (): void => {
      step.stopping = true;
      this.changed();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      this.changed();
      await finished;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      for (const gate of step.gates) gate.budget = 0;
      if (this.current === step) this.current = undefined;
    }
  }

  /** @internal Called whenever a gate starts waiting or finishes. */
  changed(): void {
    const step = this.current;
    if (!step || this.releaseScheduled) return;
    const ready: TokenGate[] = [];
    for (const gate of step.gates) {
      if (gate.finished) continue;
      if (!gate.waiting) return; // still decoding or processing its last token: the round waits for it
      if (gate.budget > 0 && !step.stopping) ready.push(gate);
    }
    if (ready.length === 0) {
      this.current = undefined;
      step.done();
      return;
    }
    if (ready.length === 1) {
      (ready[0] as TokenGate).release();
      return;
    }
    // node-llama-cpp's batch dispatcher is still finishing the previous batch in this tick; released
    // now, the jobs could be split over two batches. One macrotask later it is idle, and the decodes
    // queued by this round all go into one batch.
    this.releaseScheduled = true;
    setImmediate(() => {
      this.releaseScheduled = false;
      if (this.current !== step) return;
      if (step.stopping) {
        this.changed();
        return;
      }
      let released = 0;
      for (const gate of ready)
        if (gate.waiting && !gate.finished && gate.budget > 0) {
          gate.release();
          released++;
        }
      if (released === 0) this.changed();
    });
  }
}
