import { describe, expect, it } from 'vitest';
import { CrashPolicy } from '../../src/engine/crash-policy.js';
import { HearthError, type JobRecord } from '../../src/engine/types.js';

function record(id: string, crashes: number): JobRecord {
  return {
    id,
    seq: 1,
    kind: 'image',
    model: 'image',
    userId: 'u',
    payload: {},
    origin: null,
    conversationId: null,
    weight: 1,
    state: 'running',
    attempts: crashes + 1,
    crashes,
    estimateSeconds: 1,
    usedSeconds: 0,
    createdAt: 0,
    startedAt: 0,
    finishedAt: null,
    result: null,
    error: null,
    admin: false,
    deliveredAt: null,
  };
}

describe('what a crash means for which jobs', () => {
  it('retries a job whose step took the worker down, blaming it, and fails it the second time', () => {
    const policy = new CrashPolicy(2);
    expect(policy.judge({ during: 'step', reason: 'exit 134', jobs: [record('a', 0)] })).toEqual([
      { jobId: 'a', action: 'retry', blamed: true, note: 'worker crashed: exit 134' },
    ]);
    expect(policy.judge({ during: 'step', reason: 'exit 134', jobs: [record('a', 1)] })).toEqual([
      {
        jobId: 'a',
        action: 'fail',
        // This crash counts against it too: its record ends with crashes 2, as its error's facts say.
        crashed: true,
        error: {
          code: 'WORKER_CRASHED',
          message: 'this job stopped the GPU worker twice, so it was not tried again',
          facts: { crashes: 2, reason: 'exit 134' },
        },
      },
    ]);
  });

  it('restarts begun jobs that were not in the dying step without counting it against them', () => {
    const policy = new CrashPolicy(2);
    expect(policy.judge({ during: 'elsewhere', reason: 'oom', jobs: [record('b', 1), record('c', 0)] })).toEqual([
      { jobId: 'b', action: 'retry', blamed: false, note: 'worker restarted: oom' },
      { jobId: 'c', action: 'retry', blamed: false, note: 'worker restarted: oom' },
    ]);
  });

  it('lets a model whose load kills the worker try again, then fails the jobs waiting for it as MODEL_INVALID', () => {
    const policy = new CrashPolicy(2);
    const waiting = [record('a', 0), record('b', 0)];
    expect(policy.judge({ during: 'load', model: 'image', reason: 'GGML_ASSERT', jobs: waiting })).toEqual([]);
    const verdicts = policy.judge({ during: 'load', model: 'image', reason: 'GGML_ASSERT', jobs: waiting });
    expect(verdicts.map((v) => [v.jobId, v.action, v.action === 'fail' ? v.error.code : null])).toEqual([
      ['a', 'fail', 'MODEL_INVALID'],
      ['b', 'fail', 'MODEL_INVALID'],
    ]);
  });

  it('forgets a model’s load crashes once it loads', () => {
    const policy = new CrashPolicy(2);
    expect(policy.judge({ during: 'load', model: 'chat', reason: 'x', jobs: [record('a', 0)] })).toEqual([]);
    policy.loaded('chat');
    expect(policy.judge({ during: 'load', model: 'chat', reason: 'x', jobs: [record('a', 0)] })).toEqual([]);
  });

  it('tells a worker death from a runner’s own error', () => {
    expect(CrashPolicy.isWorkerCrash(new HearthError('WORKER_CRASHED', 'gone'))).toBe(true);
    expect(CrashPolicy.isWorkerCrash(new HearthError('RUNNER_FAILED', 'bad'))).toBe(false);
    expect(CrashPolicy.isWorkerCrash(new Error('WORKER_CRASHED'))).toBe(false);
  });
});
