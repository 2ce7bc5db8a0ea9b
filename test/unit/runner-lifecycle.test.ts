/**
 * The shared runner lifecycle on a fake model: loads are shared, teardown always runs, dispose is final.
 * The same rules on the real runners are in test/integration/runner-contract.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { HearthError } from '../../src/engine/types.js';
import { RunnerLifecycle, TeardownStack, type LoadContext } from '../../src/runners/lifecycle.js';
import { hearthRejection as rejection } from '../helpers/rejections.js';

interface Gate {
  promise: Promise<void>;
  open(): void;
  fail(e: unknown): void;
}

function gate(): Gate {
  let open!: () => void;
  let fail!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    open = res;
    fail = rej;
  });
  return { promise, open, fail };
}

/** A model whose loads wait on a gate and record what happened. */
function fake(opts: { teardownFails?: string[] } = {}) {
  const log: string[] = [];
  let loads = 0;
  let pending = gate();
  const signals: AbortSignal[] = [];
  const life = new RunnerLifecycle<{ n: number }>({
    kind: 'chat',
    model: 'm',
    load: async (ctx: LoadContext) => {
      const n = ++loads;
      signals.push(ctx.signal);
      ctx.defer('weights', () => {
        log.push(`free weights ${n}`);
        if (opts.teardownFails?.includes('weights')) throw new Error('weights stuck');
      });
      await pending.promise;
      ctx.defer('context', () => {
        log.push(`free context ${n}`);
        if (opts.teardownFails?.includes('context')) throw new Error('context stuck');
      });
      return { n };
    },
  });
  return {
    life,
    log,
    signals,
    loads: () => loads,
    finish: () => pending.open(),
    failLoad: (e: unknown) => pending.fail(e),
    rearm: () => (pending = gate()),
  };
}
async function code(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'resolved',
    (e: unknown) => (e instanceof HearthError ? e.code : e instanceof Error ? e.name : String(e)),
  );
}

describe('TeardownStack', () => {
  it('runs every step newest first and returns the failures', async () => {
    const order: string[] = [];
    const stack = new TeardownStack();
    stack.add('a', () => void order.push('a'));
    stack.add('b', () => {
      order.push('b');
      throw new Error('b broke');
    });
    stack.add('c', async () => void order.push('c'));
    const failures = await stack.run();
    expect(order).toEqual(['c', 'b', 'a']);
    expect(failures.map((f) => f.label)).toEqual(['b']);
    expect(stack.size).toBe(0);
    expect(await stack.run()).toEqual([]);
  });
});

describe('RunnerLifecycle', () => {
  it('shares a load in flight between concurrent callers', async () => {
    const f = fake();
    const a = f.life.load();
    const b = f.life.load();
    f.finish();
    expect(await a).toBe(await b);
    expect(f.loads()).toBe(1);
    expect(await f.life.load()).toEqual({ n: 1 });
  });

  it('unload waits for a load in flight, then frees what it acquired, newest first', async () => {
    const f = fake();
    let loaded = false;
    const load = f.life.load().then(() => (loaded = true));
    const unload = f.life.unload();
    await new Promise((r) => setTimeout(r, 5));
    expect(loaded).toBe(false);
    f.finish();
    await unload;
    expect(loaded).toBe(true);
    await load;
    expect(f.log).toEqual(['free context 1', 'free weights 1']);
    expect(f.life.loaded).toBe(false);
    await expect(f.life.use()).rejects.toMatchObject({ code: 'RUNNER_FAILED', facts: { loaded: false } });
  });

  it('frees what a failed load had acquired, and says why in the not-loaded error', async () => {
    const f = fake();
    const p = f.life.load();
    f.failLoad(new HearthError('MODEL_INVALID', 'bad file'));
    await expect(p).rejects.toMatchObject({ code: 'MODEL_INVALID' });
    expect(f.log).toEqual(['free weights 1']);
    const e = await rejection(f.life.use());
    expect(e).toMatchObject({ code: 'RUNNER_FAILED', facts: { loaded: false, loadError: { code: 'MODEL_INVALID', message: 'bad file' } } });
    expect(e.message).toContain('bad file');
    // The next load is a fresh one.
    f.rearm();
    const again = f.life.load();
    f.finish();
    expect(await again).toEqual({ n: 2 });
  });

  it('runs every teardown step on unload even when some fail, and aggregates the errors', async () => {
    const f = fake({ teardownFails: ['context', 'weights'] });
    f.finish();
    await f.life.load();
    const e = await f.life.unload().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AggregateError);
    expect((e as AggregateError).errors).toHaveLength(2);
    expect((e as AggregateError).message).toMatch(/context: context stuck; weights: weights stuck/);
    expect(f.log).toEqual(['free context 1', 'free weights 1']);
    expect(f.life.loaded).toBe(false);
  });

  it('rejects an aborted caller at once; the load goes on while another caller waits', async () => {
    const f = fake();
    const ac = new AbortController();
    const a = f.life.load({ signal: ac.signal });
    const b = f.life.load();
    ac.abort(new Error('caller gave up'));
    await expect(a).rejects.toThrow('caller gave up');
    expect(f.signals[0]?.aborted).toBe(false);
    f.finish();
    expect(await b).toEqual({ n: 1 });
  });

  it('aborts the shared load when every caller has aborted, and frees what it had', async () => {
    const f = fake();
    const ac1 = new AbortController();
    const ac2 = new AbortController();
    const a = f.life.load({ signal: ac1.signal });
    const b = f.life.load({ signal: ac2.signal });
    ac1.abort(new Error('one'));
    expect(f.signals[0]?.aborted).toBe(false);
    ac2.abort(new Error('two'));
    expect(f.signals[0]?.aborted).toBe(true);
    await expect(a).rejects.toThrow('one');
    await expect(b).rejects.toThrow('two');
    f.finish(); // the loader ignores its signal: the lifecycle still frees its result
    await new Promise((r) => setTimeout(r, 5));
    expect(f.log).toEqual(['free context 1', 'free weights 1']);
    expect(f.life.loaded).toBe(false);
    expect(await code(f.life.load({ signal: AbortSignal.abort() }))).toBe('AbortError');
  });

  it('after dispose every call rejects with one SHUTTING_DOWN naming the runner; dispose twice is fine', async () => {
    const f = fake();
    const inFlight = f.life.load();
    const disposing = f.life.dispose();
    expect(f.signals[0]?.aborted).toBe(true);
    f.finish();
    await disposing;
    await f.life.dispose();
    await f.life[Symbol.asyncDispose]();
    expect(await code(inFlight)).toBe('SHUTTING_DOWN');
    for (const call of [() => f.life.load(), () => f.life.unload(), () => f.life.use()]) {
      const e = await rejection(call());
      expect(e).toMatchObject({ code: 'SHUTTING_DOWN', facts: { model: 'm', kind: 'chat' } });
      expect(e.message).toBe('the chat runner "m" has been disposed (hearth is shutting down)');
    }
    expect(() => f.life.require()).toThrow(/has been disposed/);
    expect(f.log).toEqual(['free context 1', 'free weights 1']);
  });

  it('dispose runs the runner-lifetime steps after the model, and reports failures once', async () => {
    const f = fake();
    f.finish();
    await f.life.load();
    f.life.onDispose('llama', () => {
      f.log.push('free llama');
      throw new Error('llama stuck');
    });
    await expect(f.life.dispose()).rejects.toThrow(/disposing the chat runner "m" failed in 1 step\(s\): llama: llama stuck/);
    await f.life.dispose();
    expect(f.log).toEqual(['free context 1', 'free weights 1', 'free llama']);
  });

  it('loads again a model that is no longer healthy', async () => {
    let alive = true;
    let loads = 0;
    const life = new RunnerLifecycle<{ n: number }>({
      kind: 'image',
      model: 'i',
      load: async () => ({ n: ++loads }),
      healthy: () => alive,
    });
    await life.load();
    alive = false;
    const p = life.use();
    alive = true;
    expect(await p).toEqual({ n: 2 });
    await life.dispose();
  });
});
