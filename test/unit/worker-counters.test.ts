/**
 * The worker's `counters` message (zod-checked by the parent like every message) and the totals the
 * parent keeps of it across worker restarts.
 */
import { describe, expect, it } from 'vitest';
import { CounterTotals } from '../../src/engine/executor/counter-totals.js';
import { decodeFromWorker } from '../../src/worker/protocol.js';

const cache = { hits: 3, misses: 2, evictions: 1, reusedTokens: 120, evaluatedTokens: 40 };

describe('the counters message', () => {
  it('passes with a runner counters object, and a newer worker may add keys', () => {
    const decoded = decodeFromWorker({ type: 'counters', model: 'chat', counters: { conversationCache: cache } });
    expect(decoded).toEqual({ ok: true, message: { type: 'counters', model: 'chat', counters: { conversationCache: cache } } });
    expect(decodeFromWorker({ type: 'counters', model: 'chat', counters: {} }).ok).toBe(true);
    expect(decodeFromWorker({ type: 'counters', model: 'chat', counters: { conversationCache: { ...cache, checkpoints: 2 }, prefixTree: { nodes: 1 } } }).ok).toBe(true);
    expect(decodeFromWorker({ type: 'counters', model: 'chat', counters: { draft: { accepted: 4, rejected: 1 } } }).ok).toBe(true);
  });

  it.each([
    ['a negative count', { type: 'counters', model: 'chat', counters: { conversationCache: { ...cache, hits: -1 } } }, 'counters.conversationCache.hits'],
    ['a fraction', { type: 'counters', model: 'chat', counters: { conversationCache: { ...cache, reusedTokens: 1.5 } } }, 'counters.conversationCache.reusedTokens'],
    ['a count as text', { type: 'counters', model: 'chat', counters: { conversationCache: { ...cache, misses: '2' } } }, 'counters.conversationCache.misses'],
    ['a missing count', { type: 'counters', model: 'chat', counters: { conversationCache: { hits: 1 } } }, 'counters.conversationCache.misses'],
    ['no model', { type: 'counters', counters: {} }, 'model'],
    ['a draft without its rejected count', { type: 'counters', model: 'chat', counters: { draft: { accepted: 1 } } }, 'counters.draft.rejected'],
  ])('is refused with %s, naming the field', (_name, message, field) => {
    const decoded = decodeFromWorker(message);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.violation.expected).toContain(field);
  });
});

describe('CounterTotals', () => {
  it('adds what each report grew by, and counts a restarted worker from 0, never going down', () => {
    const totals = new CounterTotals();
    expect(totals.snapshot()).toEqual({});
    totals.report('chat', { conversationCache: cache });
    totals.report('chat', { conversationCache: { ...cache, hits: 5, reusedTokens: 200 } });
    expect(totals.snapshot().chat?.conversationCache).toEqual({ ...cache, hits: 5, reusedTokens: 200 });
    // A new worker (told by the executor), then its first report: all of it is new.
    totals.restarted();
    totals.report('chat', { conversationCache: { hits: 1, misses: 1, evictions: 0, reusedTokens: 10, evaluatedTokens: 30 } });
    expect(totals.snapshot().chat?.conversationCache).toEqual({ hits: 6, misses: 3, evictions: 1, reusedTokens: 210, evaluatedTokens: 70 });
    // A restart the executor did not see: a count that went down still starts again from 0.
    totals.report('chat', { conversationCache: { hits: 0, misses: 1, evictions: 0, reusedTokens: 0, evaluatedTokens: 5 } });
    expect(totals.snapshot().chat?.conversationCache).toEqual({ hits: 6, misses: 4, evictions: 1, reusedTokens: 210, evaluatedTokens: 75 });
    // Reports without a cache count nothing.
    totals.report('image', {});
    expect(Object.keys(totals.snapshot())).toEqual(['chat']);
  });

  it('totals the draft counters the same way, apart from the cache', () => {
    const totals = new CounterTotals();
    totals.report('chat', { conversationCache: cache, draft: { accepted: 8, rejected: 2 } });
    totals.report('chat', { conversationCache: cache, draft: { accepted: 10, rejected: 5 } });
    expect(totals.snapshot().chat).toEqual({ conversationCache: cache, draft: { accepted: 10, rejected: 5 } });
    // A new worker's drafts count from 0; the cache, unchanged, adds nothing.
    totals.report('chat', { conversationCache: cache, draft: { accepted: 1, rejected: 0 } });
    expect(totals.snapshot().chat).toEqual({ conversationCache: cache, draft: { accepted: 11, rejected: 5 } });
    totals.report('other', { draft: { accepted: 2, rejected: 2 } });
    expect(totals.snapshot().other).toEqual({ draft: { accepted: 2, rejected: 2 } });
  });
});
