import { describe, expect, it } from 'vitest';
import type { JobEvent, JobRecord } from '../../src/engine/types.js';
import { emptyView, failView, isFinal, reduceJobView, roleOf, type JobViewModel, type ViewJob } from '../../src/views/job-view-model.js';
import { JobViews, type ViewChange, type ViewFeed } from '../../src/views/job-views.js';

const chat: ViewJob = { id: 'chat1', kind: 'chat', role: 'main', userId: 'web:a' };
const caption: ViewJob = { id: 'cap1', kind: 'caption', role: 'helper', userId: 'web:a' };
const image: ViewJob = { id: 'img1', kind: 'image', role: 'main', userId: 'web:a' };

function play(events: Array<[ViewJob, JobEvent]>, from: JobViewModel = emptyView()): JobViewModel {
  return events.reduce((v, [job, e]) => reduceJobView(v, job, e), from);
}

describe('the job view every face shows', () => {
  it('folds an image description into the question it serves: a status line, then the answer', () => {
    const waiting = play([
      [caption, { type: 'queued', position: 1, etaSeconds: 4 }],
      [chat, { type: 'queued', position: 2, etaSeconds: 9 }],
      [caption, { type: 'started', attempt: 1 }],
    ]);
    expect(waiting.phase).toBe('queued');
    expect(waiting.jobId).toBe('chat1');
    expect(waiting.helpers).toEqual([{ jobId: 'cap1', kind: 'caption', phase: 'running' }]);

    const described = play([[caption, { type: 'result', result: { text: 'a red bicycle' } }]], waiting);
    expect(described.helpers).toEqual([]);
    expect(described.notes).toEqual([{ jobId: 'cap1', text: 'a red bicycle' }]);
    expect(isFinal(described)).toBe(false);

    const answered = play(
      [
        [chat, { type: 'started', attempt: 1 }],
        [chat, { type: 'token', text: 'It is ' }],
        [chat, { type: 'token', text: 'a bicycle.' }],
        [chat, { type: 'result', result: { text: 'It is a bicycle.' } }],
      ],
      described,
    );
    expect(answered.phase).toBe('done');
    expect(answered.text).toBe('It is a bicycle.');
    expect(answered.result?.text).toBe('It is a bicycle.');
  });

  it('does not end the question when its image could not be described: the answer still comes', () => {
    const v = play([
      [caption, { type: 'queued', position: 0, etaSeconds: 1 }],
      [chat, { type: 'queued', position: 1, etaSeconds: 2 }],
      [caption, { type: 'failed', error: { code: 'IMAGE_INVALID', message: 'that file is not an image' } }],
    ]);
    expect(isFinal(v)).toBe(false);
    expect(v.phase).toBe('queued');
    expect(v.notes).toEqual([{ jobId: 'cap1', text: 'that file is not an image', failed: true }]);
    expect(play([[chat, { type: 'result', result: { text: 'I could not see it.' } }]], v).phase).toBe('done');
  });

  it('marks an answer that started over after a restart, keeping what the first attempt had written', () => {
    const v = play([
      [chat, { type: 'started', attempt: 1 }],
      [chat, { type: 'token', text: 'half an ans' }],
      [chat, { type: 'started', attempt: 2 }],
      [chat, { type: 'token', text: 'Whole' }],
    ]);
    expect(v.restarted).toBe(true);
    expect(v.interrupted).toBe('half an ans');
    expect(v.text).toBe('Whole');
    expect(v.attempt).toBe(2);
  });

  it('knows a resumed job restarted even when this process never saw its first attempt', () => {
    const v = play([[chat, { type: 'started', attempt: 2 }]]);
    expect(v.restarted).toBe(true);
    expect(v.interrupted).toBeUndefined();
  });

  it('says while hearth starts that the job waits for it, then shows its place in line', () => {
    const starting = play([[chat, { type: 'queued', position: 0, etaSeconds: 0, starting: true }]]);
    expect(starting.queued).toEqual({ position: 0, etaSeconds: 0, starting: true });
    const ready = play([[chat, { type: 'queued', position: 0, etaSeconds: 3 }]], starting);
    expect(ready.queued).toEqual({ position: 0, etaSeconds: 3 });
  });

  it('tells who stopped a job: its owner, or somebody else', () => {
    expect(play([[image, { type: 'cancelled', partial: null, by: 'web:a' }]]).stopped).toEqual({ by: 'web:a', byOwner: true });
    expect(play([[image, { type: 'cancelled', partial: null, by: 'web:admin' }]]).stopped).toEqual({ by: 'web:admin', byOwner: false });
  });

  it('ignores events after the end, and a failure of the command itself ends the view', () => {
    const done = play([[image, { type: 'result', result: { image: { png: new Uint8Array(1), width: 8, height: 8 } } }]]);
    expect(reduceJobView(done, image, { type: 'progress', step: 1, of: 2 })).toBe(done);
    const failed = failView(emptyView(), { code: 'QUEUE_FULL', message: 'full', facts: { given: 4, allowed: 3 } });
    expect(failed.phase).toBe('failed');
    expect(failView(failed, { code: 'RUNNER_FAILED', message: 'x' })).toBe(failed);
  });

  it('is pure: reducing never changes the view it was given', () => {
    const before = play([[chat, { type: 'started', attempt: 1 }]]);
    const copy = structuredClone(before);
    reduceJobView(before, chat, { type: 'token', text: 'x' });
    expect(before).toEqual(copy);
  });

  it('takes a caption for a helper only when its payload says it serves a question', () => {
    expect(roleOf({ kind: 'caption', payload: { detail: 'detailed', forChat: true } })).toBe('helper');
    expect(roleOf({ kind: 'caption', payload: { detail: 'short' } })).toBe('main');
    expect(roleOf({ kind: 'chat', payload: { forChat: true } })).toBe('main');
  });
});

describe('the view registry', () => {
  function record(id: string, kind: JobRecord['kind'], origin: string, payload: JobRecord['payload'] = {}): JobRecord {
    return {
      id, seq: 1, kind, model: kind, userId: 'web:a', payload, origin: { key: origin }, conversationId: null, weight: 1, state: 'queued',
      attempts: 0, crashes: 0, estimateSeconds: 1, usedSeconds: 0, createdAt: 0, startedAt: null, finishedAt: null, result: null, error: null,
      admin: false, deliveredAt: null,
    };
  }

  function harness(records: JobRecord[]) {
    const listeners = new Set<(e: { jobId: string; userId: string; event: JobEvent }) => void>();
    const feed: ViewFeed = {
      subscribe: (l) => (listeners.add(l), () => listeners.delete(l)),
      getJob: (id) => records.find((r) => r.id === id),
    };
    const changes: Array<ViewChange<string>> = [];
    const views = new JobViews<string>({
      feed,
      parseOrigin: (o) => (typeof o === 'object' && o !== null && !Array.isArray(o) && typeof o.key === 'string' ? o.key : null),
      keyOf: (o) => o,
      onChange: (c) => changes.push(c),
      report: (e) => {
        throw e;
      },
    });
    views.start();
    const emit = (jobId: string, event: JobEvent): void => {
      for (const l of listeners) l({ jobId, userId: 'web:a', event });
    };
    return { views, changes, emit };
  }

  it('shows the jobs of one origin in one view, and forgets it once it has ended', () => {
    const { views, changes, emit } = harness([record('c', 'caption', 'k1', { forChat: true }), record('q', 'chat', 'k1'), record('x', 'image', 'other')]);
    emit('c', { type: 'queued', position: 0, etaSeconds: 1 });
    emit('q', { type: 'queued', position: 1, etaSeconds: 2 });
    emit('c', { type: 'result', result: { text: 'a cat' } });
    emit('q', { type: 'result', result: { text: 'a cat, yes' } });
    expect(changes.map((c) => c.key)).toEqual(['k1', 'k1', 'k1', 'k1']);
    expect(changes.at(-1)!.view.phase).toBe('done');
    expect(changes.at(-1)!.view.notes.map((n) => n.text)).toEqual(['a cat']);
    expect(views.size).toBe(0);
    // A late event of an ended job opens no new view.
    emit('q', { type: 'token', text: 'late' });
    expect(changes).toHaveLength(4);
  });

  it('ignores jobs of another platform', () => {
    const { changes, emit } = harness([{ ...record('n', 'chat', 'k'), origin: { platform: 'elsewhere' } }]);
    emit('n', { type: 'queued', position: 0, etaSeconds: 0 });
    expect(changes).toEqual([]);
  });
});
