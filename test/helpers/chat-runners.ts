/**
 * What the chat-runner tests share: a CPU-only llama.cpp, the runner settings they start from, a
 * question payload, and driving begun jobs step by step until each is done (as the dispatcher does).
 */
import { getLlama, type Llama } from 'node-llama-cpp';
import { expect } from 'vitest';
import type { JobEvent, JobResult, Json } from '../../src/engine/types.js';
import type { StepOutput } from '../../src/engine/runner.js';
import type { ChatRunner, ChatRunnerSettings } from '../../src/runners/llm/chat-runner.js';

/** llama.cpp on the CPU, one thread, never building from source (the tests' machine has no compiler run budget). */
export function cpuLlama(): Promise<Llama> {
  return getLlama({ gpu: false, build: 'never', maxThreads: 1 });
}

/** Deterministic (greedy) runner settings for the tiny model at `path`; each test overrides what it is about. */
export function chatSettings(path: string, overrides: Partial<ChatRunnerSettings> = {}): ChatRunnerSettings {
  return {
    model: 'chat',
    path,
    threads: 1,
    parallel: 2,
    contextSize: 512,
    maxTokens: 24,
    temperature: 0,
    topP: 1,
    repeatPenalty: 1.1,
    gpu: 'cpu',
    gpuLayers: 'auto',
    tokensPerStep: 8,
    ...overrides,
  };
}

/** A system prompt and one question, as /ask sends them. */
export function question(text: string, extra: Record<string, Json> = {}, system = 'Be brief.'): Json {
  return { messages: [{ role: 'system', content: system }, { role: 'user', content: text }], ...extra };
}

export interface StepUntilDoneOptions {
  /** Receives every event of every job, as the engine's emit would. */
  emit?: (jobId: string, event: JobEvent) => void;
  /** Called before each step with the jobs it will step. */
  beforeStep?: (active: readonly string[]) => void;
  /** Called after each step with what it returned. */
  afterStep?: (outputs: readonly StepOutput[]) => void;
  /** Steps allowed before the test fails (default 200). */
  maxSteps?: number;
}

/**
 * Steps the already begun jobs together until all are done, ending each as it finishes; a job that
 * fails fails the test. Returns the results by job id and the number of steps taken.
 */
export async function stepUntilDone(runner: ChatRunner, ids: readonly string[], opts: StepUntilDoneOptions = {}): Promise<{ results: Map<string, JobResult>; steps: number }> {
  const results = new Map<string, JobResult>();
  const maxSteps = opts.maxSteps ?? 200;
  let active = [...ids];
  let steps = 0;
  while (active.length > 0) {
    if (steps++ >= maxSteps) throw new Error(`the jobs did not finish in ${maxSteps} steps: ${active.join(', ')} still running`);
    opts.beforeStep?.(active);
    const outputs = await runner.step(active, { emit: opts.emit ?? (() => {}) });
    opts.afterStep?.(outputs);
    for (const out of outputs) {
      expect(out.failed).toBeUndefined();
      if (out.done) {
        results.set(out.jobId, out.done);
        await runner.end(out.jobId);
      }
    }
    active = active.filter((id) => !results.has(id));
  }
  return { results, steps };
}

/** Begins each job (its owner `u-<id>`), then {@link stepUntilDone}. */
export async function runTogether(runner: ChatRunner, jobs: ReadonlyArray<readonly [string, Json]>, opts: StepUntilDoneOptions = {}): Promise<Map<string, JobResult>> {
  for (const [id, payload] of jobs) await runner.begin({ id, kind: 'chat', model: 'chat', userId: `u-${id}`, payload });
  return (await stepUntilDone(runner, jobs.map(([id]) => id), opts)).results;
}
