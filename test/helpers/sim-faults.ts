/**
 * What a test can make the simulated GPU do besides working: describe no image, lose its worker in
 * the middle of a chat, or hold a chat at a step until the test lets it go (so a test waits for a
 * condition, never for a duration). The runners themselves are the real simulated ones
 * (test/fixtures/sim-runner.ts); {@link SimFaults.wrap} only adds the fault around them.
 */
import type { Runner, RunnerJob, StepOptions, StepOutput } from '../../src/engine/runner.js';
import { HearthError } from '../../src/engine/types.js';

/** A chat held at a step: `reached` settles when a chat gets there; `release` lets it go on. */
export interface Hold {
  reached: Promise<string>;
  release(): void;
}

interface PendingHold {
  atStep: number;
  reach: (jobId: string) => void;
  release: () => void;
  released: Promise<void>;
}

export class SimFaults {
  /** While set, describing an image fails (the captioner cannot read it). */
  captionFails = false;
  #crashes: number[] = [];
  #holds: PendingHold[] = [];

  /** The next chat step number `atStep` (of any chat job, 1-based per attempt) takes the worker down, once per call. */
  crashChat(atStep: number): void {
    this.#crashes.push(atStep);
  }

  /** The next chat job to reach step `atStep` waits there (before the step) until released; once per call. */
  holdChat(atStep: number): Hold {
    let release!: () => void;
    let reach!: (jobId: string) => void;
    const released = new Promise<void>((r) => (release = r));
    const reached = new Promise<string>((r) => (reach = r));
    this.#holds.push({ atStep, reach, release, released });
    return { reached, release };
  }

  /** Forgets the faults not yet met and lets every held chat go (a test that ends early leaves none behind). */
  clear(): void {
    for (const h of this.#holds.splice(0)) h.release();
    this.#crashes = [];
    this.captionFails = false;
  }

  wrap(runner: Runner): Runner {
    return new FaultyRunner(runner, this);
  }

  /** @internal The fault, if any, for a step of `kind` at `step`. */
  take(kind: string, step: number): { crash: boolean; hold?: PendingHold; failCaption: boolean } {
    if (kind === 'caption') return { crash: false, failCaption: this.captionFails };
    if (kind !== 'chat') return { crash: false, failCaption: false };
    const c = this.#crashes.indexOf(step);
    if (c >= 0) this.#crashes.splice(c, 1);
    const h = this.#holds.findIndex((x) => x.atStep === step);
    const hold = h >= 0 ? this.#holds.splice(h, 1)[0] : undefined;
    return { crash: c >= 0, failCaption: false, ...(hold ? { hold } : {}) };
  }
}

class FaultyRunner implements Runner {
  readonly #inner: Runner;
  readonly #faults: SimFaults;
  /** Steps each job has started in its current attempt. */
  readonly #steps = new Map<string, number>();

  constructor(inner: Runner, faults: SimFaults) {
    this.#inner = inner;
    this.#faults = faults;
  }

  get model(): string {
    return this.#inner.model;
  }
  get kind(): Runner['kind'] {
    return this.#inner.kind;
  }
  get maxBatch(): number {
    return this.#inner.maxBatch;
  }
  vramBytes(): Promise<number> {
    return this.#inner.vramBytes();
  }
  load(opts?: { signal?: AbortSignal }): Promise<void> {
    return this.#inner.load(opts);
  }
  unload(): Promise<void> {
    return this.#inner.unload();
  }
  begin(job: RunnerJob, opts?: { signal?: AbortSignal }): Promise<{ steps: number }> {
    this.#steps.set(job.id, 0);
    return this.#inner.begin(job, opts);
  }

  async step(jobIds: string[], opts: StepOptions): Promise<StepOutput[]> {
    for (const id of jobIds) {
      const step = (this.#steps.get(id) ?? 0) + 1;
      this.#steps.set(id, step);
      const fault = this.#faults.take(this.kind, step);
      if (fault.failCaption) throw new HearthError('RUNNER_FAILED', 'the simulated captioner could not read this image');
      if (fault.hold) {
        fault.hold.reach(id);
        await untilReleasedOrAborted(fault.hold.released, opts.signal);
        // Stopped while held (hearth closing): the step ends with its abort, as a real one does.
        if (opts.signal?.aborted) throw opts.signal.reason;
      }
      // What the executor reports when the GPU worker process dies under a step.
      if (fault.crash) throw new HearthError('WORKER_CRASHED', 'the GPU worker stopped (simulated: signal SIGABRT)');
    }
    return this.#inner.step(jobIds, opts);
  }

  end(jobId: string): Promise<void> {
    this.#steps.delete(jobId);
    return this.#inner.end(jobId);
  }
  dispose(): Promise<void> {
    return this.#inner.dispose();
  }
}

function untilReleasedOrAborted(released: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return released;
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done);
    void released.then(done);
  });
}
