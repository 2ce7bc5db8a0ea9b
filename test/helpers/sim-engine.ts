/** Builds an engine on a virtual clock with simulated runners and an in-memory SQLite store. */
import { VirtualClock } from '../../src/engine/clock.js';
import { Engine, type EngineOptions } from '../../src/engine/engine.js';
import { InProcessExecutor } from '../../src/engine/executor/in-process-executor.js';
import type { SchedulerPolicy } from '../../src/engine/scheduler/policy.js';
import { SqliteStore } from '../../src/engine/store/sqlite-store.js';
import type { EngineEvent } from '../../src/engine/types.js';
import { SimRunner, type SimModelSpec } from '../fixtures/sim-runner.js';

export interface SimEngineOptions {
  models: SimModelSpec[];
  vramBudgetBytes?: number;
  maxQueuedPerUser?: number;
  dailyGpuSeconds?: number;
  policy?: SchedulerPolicy;
  /** What the config names (the engine accepts jobs for these while it starts). */
  declaredModels?: EngineOptions['declaredModels'];
  /**
   * When given, the executor's describe waits for it (a GPU worker still starting), and simEngine
   * returns without waiting for start: `started` settles once it has.
   */
  describeGate?: Promise<void>;
}

/** An in-process executor whose describe waits for a gate: a worker that takes a while to come up. */
class SlowStartExecutor extends InProcessExecutor {
  readonly #gate: Promise<void>;
  constructor(runners: readonly SimRunner[], gate: Promise<void>) {
    super(runners);
    this.#gate = gate;
  }
  override async describe(): ReturnType<InProcessExecutor['describe']> {
    await this.#gate;
    return super.describe();
  }
}

export interface SimEngine {
  engine: Engine;
  clock: VirtualClock;
  store: SqliteStore;
  runners: Map<string, SimRunner>;
  events: EngineEvent[];
  /** Job ids of every step, in order. */
  stepLog: Array<{ model: string; jobIds: string[]; at: number }>;
  /** Aborted-signal observations: job ids whose step saw its signal aborted. */
  abortedSteps: string[][];
  /** Settles when engine.start() has (at once unless `describeGate` was given). */
  started: Promise<void>;
  close(): Promise<void>;
}

export async function simEngine(opts: SimEngineOptions): Promise<SimEngine> {
  const clock = new VirtualClock();
  const store = SqliteStore.open(':memory:');
  const stepLog: SimEngine['stepLog'] = [];
  const abortedSteps: string[][] = [];
  let currentStep: string[] = [];
  const runners = new Map<string, SimRunner>();
  for (const spec of opts.models) {
    runners.set(
      spec.model,
      new SimRunner(spec, {
        sleep: async (ms, signal) => {
          clock.advance(ms);
          // Let the engine's listeners (which may cancel) run before the step ends.
          await Promise.resolve();
          if (signal?.aborted) abortedSteps.push(currentStep);
        },
        onStep: (model, jobIds) => {
          currentStep = [...jobIds];
          stepLog.push({ model, jobIds: [...jobIds], at: clock.now() });
        },
        crash: () => {
          throw new Error('simulated crash is not available in process');
        },
      }),
    );
  }
  const options: EngineOptions = {
    store,
    executor: opts.describeGate
      ? new SlowStartExecutor([...runners.values()], opts.describeGate)
      : new InProcessExecutor([...runners.values()]),
    clock,
    vramBudgetBytes: opts.vramBudgetBytes ?? 100e9,
    limits: {
      maxQueuedPerUser: opts.maxQueuedPerUser ?? 1000,
      ...(opts.dailyGpuSeconds !== undefined ? { dailyGpuSeconds: opts.dailyGpuSeconds } : {}),
    },
  };
  if (opts.policy) options.policy = opts.policy;
  if (opts.declaredModels) options.declaredModels = opts.declaredModels;
  const engine = new Engine(options);
  const events: EngineEvent[] = [];
  engine.on((e) => events.push(e));
  const started = engine.start();
  if (!opts.describeGate) await started;
  return {
    engine,
    clock,
    store,
    runners,
    events,
    stepLog,
    abortedSteps,
    started,
    async close() {
      await engine.close();
      store.close();
    },
  };
}
