/**
 * The runner contract: the lifecycle behaviours every runner must show, whatever its model library
 * (src/engine/runner.ts, src/runners/lifecycle.ts). `runnerContract` registers them for one subject;
 * the subjects (the simulated runner and the three real ones on tiny models) are in ./subjects.ts.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { Runner, RunnerJob, StepOutput } from '../../../src/engine/runner.js';
import { HearthError, type JobResult } from '../../../src/engine/types.js';
import { hearthRejection as rejection } from '../../helpers/rejections.js';

/** The behaviours, by name, so a subject can say which it is known to miss and why. */
export const BEHAVIOURS = {
  'load-shared': 'load twice concurrently loads once',
  'unload-waits': 'unload waits for a load in flight',
  'job-runs': 'begin → step… → done yields a result',
  'unknown-step': 'an unknown id in step is NOT_FOUND, for that job only',
  'unknown-end': 'end of an unknown id is fine',
  'not-loaded': 'begin and step with no model loaded reject RUNNER_FAILED { loaded: false }',
  'after-dispose': 'after dispose every call rejects SHUTTING_DOWN naming the runner',
  'dispose-twice': 'dispose twice is fine',
  reload: 'load after unload works again',
  'abort-step': 'abort of a running step returns promptly, leaving the job resumable',
} as const;

export type Behaviour = keyof typeof BEHAVIOURS;

/** A runner under test and how many times it has loaded its model. */
export interface Instance {
  runner: Runner;
  loads(): number;
}

export interface ContractSubject {
  name: string;
  /** Writes the tiny model (once per subject). */
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** A fresh, unloaded runner. */
  create(): Instance;
  /** A job that finishes in a few steps. */
  job(id: string): RunnerJob;
  /** A job whose steps are long enough to abort one mid-way. */
  longJob(id: string): RunnerJob;
  /** Plain steps of `longJob` before the aborted one (chat: its prompt step). */
  stepsBeforeAbort: number;
  /**
   * When the aborted step is aborted: at its first event, or this many ms after the call (0: at once,
   * for runners whose steps emit nothing until they end).
   */
  abortAfterMs?: number;
}

const quiet = { emit: (): void => undefined };
/** Steps one begun job until it is done, failing on a failed output. */
export async function runToDone(runner: Runner, id: string, maxSteps: number): Promise<JobResult> {
  for (let i = 0; i < maxSteps; i++) {
    const outputs = await runner.step([id], quiet);
    expect(outputs.map((o) => o.jobId)).toEqual([id]);
    const [out] = outputs;
    if (out?.failed) throw HearthError.from(out.failed);
    if (out?.done) return out.done;
  }
  throw new Error(`job ${id} was not done after ${maxSteps} steps`);
}

/** Registers the contract's behaviours for one subject (call inside a describe). */
export function runnerContract(subject: ContractSubject): void {
  const live: Runner[] = [];
  const fresh = (): Instance => {
    const instance = subject.create();
    live.push(instance.runner);
    return instance;
  };
  const loaded = async (): Promise<Instance> => {
    const instance = fresh();
    await instance.runner.load();
    return instance;
  };

  beforeAll(() => subject.setup());
  afterEach(async () => {
    // A failed test must not leave a model (or a worker thread) behind for the next one.
    for (const r of live.splice(0)) await r.dispose().catch(() => undefined);
  });
  afterAll(() => subject.teardown());

  // Every subject shows every behaviour: there is no list of known gaps to skip.
  const behaviour = (name: Behaviour, body: () => Promise<void>): void => {
    it(BEHAVIOURS[name], body);
  };

  behaviour('load-shared', async () => {
    const { runner, loads } = fresh();
    await Promise.all([runner.load(), runner.load()]);
    expect(loads()).toBe(1);
    await runner.load();
    expect(loads()).toBe(1);
  });

  behaviour('unload-waits', async () => {
    const { runner, loads } = fresh();
    let loadSettled = false;
    const load = runner.load().finally(() => (loadSettled = true));
    await runner.unload();
    expect(loadSettled).toBe(true);
    await load; // the load itself succeeded; the unload then freed it
    expect(loads()).toBe(1);
    const e = await rejection(runner.begin(subject.job('after-unload')));
    expect(e.code).toBe('RUNNER_FAILED');
    expect(e.facts).toMatchObject({ loaded: false });
  });

  behaviour('job-runs', async () => {
    const { runner } = await loaded();
    const { steps } = await runner.begin(subject.job('j1'));
    expect(steps).toBeGreaterThanOrEqual(1);
    const result = await runToDone(runner, 'j1', steps + 2);
    // Text, an image, or (embed) vectors in the result's meta.
    expect(result.text !== undefined || result.image !== undefined || typeof result.meta?.['vectors'] === 'string').toBe(true);
    await runner.end('j1');
  });

  behaviour('unknown-step', async () => {
    const { runner } = await loaded();
    const [never] = await runner.step(['never-begun'], quiet);
    expect(never).toMatchObject({ jobId: 'never-begun', failed: { code: 'NOT_FOUND' } });
    await runner.begin(subject.job('ended'));
    await runner.end('ended');
    const [ended] = await runner.step(['ended'], quiet);
    expect(ended).toMatchObject({ jobId: 'ended', failed: { code: 'NOT_FOUND' } });
    // Only that job fails: the runner goes on serving.
    await runner.begin(subject.job('next'));
    await runToDone(runner, 'next', 100);
  });

  behaviour('unknown-end', async () => {
    const { runner } = fresh();
    await runner.end('never-begun');
    await runner.load();
    await runner.end('never-begun');
    await runner.begin(subject.job('twice'));
    await runner.end('twice');
    await runner.end('twice');
  });

  behaviour('not-loaded', async () => {
    const { runner } = fresh();
    for (const call of [() => runner.begin(subject.job('x')), () => runner.step(['x'], quiet)]) {
      const e = await rejection(call());
      expect(e.code).toBe('RUNNER_FAILED');
      expect(e.facts).toMatchObject({ loaded: false });
      expect(e.message).toContain(runner.model);
    }
  });

  behaviour('after-dispose', async () => {
    const { runner } = await loaded();
    await runner.begin(subject.job('d1'));
    await runner.dispose();
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['vramBytes', () => runner.vramBytes()],
      ['load', () => runner.load()],
      ['unload', () => runner.unload()],
      ['begin', () => runner.begin(subject.job('d2'))],
      ['step', () => runner.step(['d1'], quiet)],
      ['end', () => runner.end('d1')],
    ];
    for (const [name, call] of calls) {
      const e = await rejection(call());
      expect(e.code, name).toBe('SHUTTING_DOWN');
      expect(e.message, name).toContain(`"${runner.model}"`);
    }
  });

  behaviour('dispose-twice', async () => {
    const never = fresh().runner;
    await never.dispose();
    await never.dispose();
    const { runner } = await loaded();
    await runner.begin(subject.job('t1'));
    await Promise.all([runner.dispose(), runner.dispose()]);
    await runner.dispose();
  });

  behaviour('reload', async () => {
    const { runner, loads } = await loaded();
    await runner.begin(subject.job('r1'));
    await runToDone(runner, 'r1', 100);
    await runner.end('r1');
    await runner.unload();
    await runner.load();
    expect(loads()).toBe(2);
    await runner.begin(subject.job('r2'));
    await runToDone(runner, 'r2', 100);
    await runner.end('r2');
  });

  behaviour('abort-step', async () => {
    const { runner } = await loaded();
    await runner.begin(subject.longJob('long'));
    for (let i = 0; i < subject.stepsBeforeAbort; i++) {
      const [out] = await runner.step(['long'], quiet);
      expect(out?.failed).toBeUndefined();
      expect(out?.done).toBeUndefined();
    }
    const controller = new AbortController();
    let abortedAt = 0;
    let eventsAfterAbort = 0;
    const abort = (): void => {
      if (abortedAt) return;
      abortedAt = performance.now();
      controller.abort();
    };
    const pending = runner.step(['long'], {
      signal: controller.signal,
      emit: () => {
        if (abortedAt) eventsAfterAbort++;
        else if (subject.abortAfterMs === undefined) abort();
      },
    });
    if (subject.abortAfterMs === 0) abort();
    else if (subject.abortAfterMs !== undefined) setTimeout(abort, subject.abortAfterMs);
    const outputs: StepOutput[] = await pending;
    expect(abortedAt, 'the step ended before it was aborted').toBeGreaterThan(0);
    expect(performance.now() - abortedAt).toBeLessThan(1000);
    // A decode may already have a token or two on the way when the abort lands.
    expect(eventsAfterAbort).toBeLessThanOrEqual(3);
    expect(outputs).toHaveLength(1);
    expect(outputs[0]).toMatchObject({ jobId: 'long' });
    expect(outputs[0]?.failed).toBeUndefined();
    expect(outputs[0]?.done).toBeUndefined();
    // Resumable: the next step goes on without failing.
    const [next] = await runner.step(['long'], quiet);
    expect(next?.failed).toBeUndefined();
    await runner.end('long');
  });
}
