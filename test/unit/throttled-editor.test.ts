import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ThrottledEditor } from '../../src/views/throttled-editor.js';

describe('ThrottledEditor', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function editor(intervalMs: number, latencyMs = 0) {
    const sent: Array<{ payload: string; start: number; end: number }> = [];
    const ed = new ThrottledEditor<string>({
      intervalMs,
      now: () => Date.now(),
      deliver: async (payload) => {
        const start = Date.now();
        if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
        sent.push({ payload, start, end: Date.now() });
      },
      onError: (e) => {
        throw e;
      },
    });
    return { ed, sent };
  }

  it('sends the first payload at once and the newest one after the interval, skipping those between', async () => {
    const { ed, sent } = editor(1000);
    ed.set('a');
    await vi.advanceTimersByTimeAsync(0);
    expect(sent.map((s) => s.payload)).toEqual(['a']);
    for (const p of ['b', 'c', 'd']) {
      ed.set(p);
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent.map((s) => s.payload)).toEqual(['a', 'd']);
    await ed.idle();
  });

  it('keeps the interval from the end of a slow delivery to the start of the next', async () => {
    const { ed, sent } = editor(500, 300);
    for (let i = 0; i < 20; i++) {
      ed.set(`p${i}`);
      await vi.advanceTimersByTimeAsync(50);
    }
    await vi.advanceTimersByTimeAsync(5000);
    expect(sent.at(-1)!.payload).toBe('p19');
    for (let i = 1; i < sent.length; i++) expect(sent[i]!.start - sent[i - 1]!.end).toBeGreaterThanOrEqual(500);
  });

  it('idle() waits for what was set; dropPending() and dispose() release it', async () => {
    const { ed, sent } = editor(1000);
    ed.set('a');
    await vi.advanceTimersByTimeAsync(0);
    ed.set('b');
    let idle = false;
    void ed.idle().then(() => (idle = true));
    await vi.advanceTimersByTimeAsync(10);
    expect(idle).toBe(false);
    ed.dropPending();
    await vi.advanceTimersByTimeAsync(0);
    expect(idle).toBe(true);
    expect(sent.map((s) => s.payload)).toEqual(['a']);
    ed.dispose();
    ed.set('c');
    await vi.advanceTimersByTimeAsync(5000);
    expect(sent).toHaveLength(1);
  });
});
