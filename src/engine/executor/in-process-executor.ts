import type { Runner, RunnerCounters, RunnerJob, StepOutput } from '../runner.js';
import { HearthError } from '../types.js';
import type { ExecStepOptions, Executor, ModelDescriptor } from './executor.js';

/** Runs runners in this process: for tests with simulated runners, and for tools that need no isolation. */
export class InProcessExecutor implements Executor {
  readonly #runners = new Map<string, Runner>();
  #closing: Promise<void> | undefined;

  constructor(runners: readonly Runner[]) {
    for (const r of runners) this.#runners.set(r.model, r);
  }

  async describe(): Promise<ModelDescriptor[]> {
    const out: ModelDescriptor[] = [];
    for (const r of this.#runners.values()) {
      out.push({ model: r.model, kind: r.kind, maxBatch: r.maxBatch, vramBytes: await r.vramBytes() });
    }
    return out;
  }

  load(model: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    return this.#runner(model).load(opts);
  }

  unload(model: string): Promise<void> {
    return this.#runner(model).unload();
  }

  begin(job: RunnerJob, opts: { signal?: AbortSignal } = {}): Promise<{ steps: number }> {
    return this.#runner(job.model).begin(job, opts);
  }

  step(model: string, jobIds: string[], opts: ExecStepOptions): Promise<StepOutput[]> {
    return this.#runner(model).step(jobIds, opts);
  }

  counters(): Record<string, RunnerCounters> {
    const out: Record<string, RunnerCounters> = {};
    for (const r of this.#runners.values()) {
      const c = r.counters?.();
      if (c) out[r.model] = c;
    }
    return out;
  }

  end(model: string, jobId: string): Promise<void> {
    return this.#runner(model).end(jobId);
  }

  onCrash(): () => void {
    return () => {};
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const errors: unknown[] = [];
      for (const r of this.#runners.values()) {
        try {
          await r.dispose();
        } catch (e) {
          errors.push(e);
        }
      }
      if (errors.length > 0) throw new AggregateError(errors, 'some runners failed to dispose');
    })();
    return this.#closing;
  }

  #runner(model: string): Runner {
    const r = this.#runners.get(model);
    if (!r) {
      throw new HearthError('MODEL_MISSING', `no model named "${model}" is configured`, {
        given: model,
        allowed: [...this.#runners.keys()],
      });
    }
    return r;
  }

  /** Same as `close()`, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
