import { DiscordAPIError } from 'discord.js';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { JobView, type ViewDeps } from '../../src/bots/discord/job-view.js';
import { parseOrigin, originToJson, type DiscordOrigin, type PostedMessage, type PostingIntent } from '../../src/bots/discord/origin.js';
import type { DiscordRest, OutMessage } from '../../src/bots/discord/rest-client.js';
import type { JobEvent, JobRecord, Json } from '../../src/engine/types.js';
import { emptyView, reduceJobView, roleOf, type JobViewModel } from '../../src/views/job-view-model.js';

type Call = { op: string; target: string; m?: OutMessage };

/** Records the REST calls a view makes; `failWith` makes interaction-token calls fail like an expired token. */
function recorder(opts: { tokenGone?: boolean } = {}) {
  const calls: Call[] = [];
  let n = 0;
  const gone = async () => {
    throw new DiscordAPIError({ code: 50027, message: 'Invalid Webhook Token' }, 50027, 401, 'PATCH', 'http://x/webhooks/1/t', { body: undefined, files: undefined });
  };
  const rest = {
    async editOriginal(_t: string, m: OutMessage) {
      if (opts.tokenGone) return gone();
      calls.push({ op: 'editOriginal', target: '@original', m });
      return { id: 'orig' };
    },
    async followup(_t: string, m: OutMessage) {
      if (opts.tokenGone) return gone();
      const id = `f${++n}`;
      calls.push({ op: 'followup', target: id, m });
      return { id };
    },
    async editFollowup(_t: string, id: string, m: OutMessage) {
      calls.push({ op: 'editFollowup', target: id, m });
      return { id };
    },
    async deleteOriginal() {
      calls.push({ op: 'deleteOriginal', target: '@original' });
    },
    async deleteFollowup(_t: string, id: string) {
      calls.push({ op: 'deleteFollowup', target: id });
    },
    async send(ch: string, m: OutMessage) {
      const id = `c${++n}`;
      calls.push({ op: 'send', target: `${ch}/${id}`, m });
      return { id };
    },
    async edit(ch: string, id: string, m: OutMessage) {
      calls.push({ op: 'edit', target: `${ch}/${id}`, m });
      return { id };
    },
    async deleteMessage(ch: string, id: string) {
      calls.push({ op: 'deleteMessage', target: `${ch}/${id}` });
    },
    async openDm() {
      return { id: 'dm1' };
    },
  };
  return { rest: rest as unknown as DiscordRest, calls };
}

function deps(rest: DiscordRest, over: Partial<ViewDeps> = {}): ViewDeps & { reported: unknown[] } {
  const reported: unknown[] = [];
  return { rest, intervalMs: 5, tokenLifetimeMs: 60_000, now: Date.now, report: (e) => reported.push(e), reported, ...over };
}

function origin(over: Partial<DiscordOrigin> = {}): DiscordOrigin {
  return {
    platform: 'discord',
    command: 'imagine',
    userId: '42',
    channelId: 'chan',
    guildId: 'g',
    ephemeral: false,
    interaction: { id: 'i1', token: 'tok', applicationId: 'app', createdAt: Date.now() },
    ...over,
  };
}

const imageJob = { id: 'job1', kind: 'image' as const, payload: { prompt: 'a cat', negativePrompt: '', width: 64, height: 64, steps: 4, guidance: 7, seed: 9, scheduler: 'euler' } as Json };
const chatJob = { id: 'job2', kind: 'chat' as const, payload: { question: 'q' } as Json };
const png = (n: number) => new Uint8Array(n);

type TestJob = { id: string; kind: 'image' | 'chat' | 'caption'; payload: Json };

/** Feeds a job's events to the view the way the shared views do: reduced into one model per command. */
const models = new WeakMap<JobView, JobViewModel>();
function feed(view: JobView, job: TestJob, e: JobEvent): void {
  const record: JobRecord = {
    id: job.id, seq: 1, kind: job.kind, model: job.kind, userId: 'discord:42', payload: job.payload, origin: null, conversationId: null,
    weight: 1, state: 'queued', attempts: 0, crashes: 0, estimateSeconds: 1, usedSeconds: 0, createdAt: 0, startedAt: null, finishedAt: null, result: null, error: null,
    admin: false, deliveredAt: null,
  };
  const previous = models.get(view) ?? emptyView();
  const next = reduceJobView(previous, { id: job.id, kind: job.kind, role: roleOf(record), userId: record.userId }, e);
  models.set(view, next);
  view.show({ key: 'k', origin: view.origin, view: next, previous, job: record, event: e });
}

/*
 * The views throttle their edits with timers (intervalMs 5 here). The clock is vitest's fake one: each
 * event is followed by `gapMs` of virtual time, so every edit due is made before the next event, the
 * same on any machine, and nothing really sleeps.
 */
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** Lets `ms` of virtual time pass, running the timers due and the promises they start. */
const pass = (ms: number): Promise<unknown> => vi.advanceTimersByTimeAsync(ms);

/** Advances virtual time until `p` settles (a view finishing its last edits); fails if it never does. */
async function settled(p: Promise<unknown>): Promise<void> {
  let done = false;
  const watched = p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 10_000 && !done; i++) await pass(5);
  if (!done) throw new Error('the view never finished (10 s of virtual time)');
  await watched;
  await p;
}

async function play(view: JobView, job: TestJob, events: JobEvent[], gapMs = 12): Promise<void> {
  for (const e of events) {
    feed(view, job, e);
    await pass(gapMs);
  }
  await settled(view.done);
}

describe('JobView', () => {
  it('uploads a preview once, not again with every progress edit', async () => {
    const { rest, calls } = recorder();
    const view = new JobView(origin(), deps(rest));
    await play(view, imageJob, [
      { type: 'started', attempt: 1 },
      { type: 'progress', step: 1, of: 4 },
      { type: 'preview', png: png(100), step: 1 },
      { type: 'progress', step: 2, of: 4 },
      { type: 'progress', step: 3, of: 4 },
      { type: 'result', result: { image: { png: png(200), width: 64, height: 64 } } },
    ]);
    const uploads = calls.filter((c) => c.m?.files?.[0]?.name === 'preview.png');
    expect(uploads).toHaveLength(1);
    // Each progress step was shown (the check above is about edits that happened, not coalesced away).
    for (const step of [1, 2, 3]) expect(calls.some((c) => c.m?.content.includes(`step ${step} of 4`)), `step ${step}`).toBe(true);
    const last = calls.at(-1)!;
    expect(last.m?.files?.[0]?.name).toBe('hearth-9.png');
    expect(last.m?.content).toContain('seed `9`');
  });

  it('replaces a failed public reply with an ephemeral note: edit, then follow-up, then delete', async () => {
    const { rest, calls } = recorder();
    const view = new JobView(origin(), deps(rest));
    view.fail({ code: 'INVALID_INPUT', message: 'steps must be a whole number from 1 to 60; got 80' });
    await settled(view.done);
    expect(calls.map((c) => c.op)).toEqual(['editOriginal', 'followup', 'deleteOriginal']);
    expect(calls[1]!.m).toMatchObject({ ephemeral: true, content: '⚠️ Steps must be a whole number from 1 to 60; got 80.' });
  });

  it('answers in the channel, mentioning the user, once the token is past its lifetime', async () => {
    const { rest, calls } = recorder();
    const view = new JobView(origin({ interaction: { id: 'i1', token: 'tok', applicationId: 'app', createdAt: Date.now() - 120_000 } }), deps(rest));
    await play(view, imageJob, [{ type: 'result', result: { image: { png: png(10), width: 64, height: 64 } } }]);
    expect(calls.map((c) => c.op)).toEqual(['send']);
    expect(calls[0]!.target.startsWith('chan/')).toBe(true);
    expect(calls[0]!.m?.content.startsWith('<@42> ')).toBe(true);
    expect(calls[0]!.m?.mentionUsers).toEqual(['42']);
  });

  it('moves a private answer to the user’s DMs when Discord refuses the token', async () => {
    const { rest, calls } = recorder({ tokenGone: true });
    const view = new JobView(origin({ command: 'ask', ephemeral: true }), deps(rest));
    await play(view, chatJob, [{ type: 'token', text: 'hello ' }, { type: 'result', result: { text: 'hello world' } }]);
    expect(calls.length).toBeGreaterThan(0);
    for (const c of calls) expect(c.target.startsWith('dm1/')).toBe(true);
    expect(calls.at(-1)!.m?.content).toBe('hello world');
  });

  it('removes continuation messages a retried answer no longer needs', async () => {
    const { rest, calls } = recorder();
    const view = new JobView(origin({ command: 'ask' }), deps(rest));
    const long = `${'word '.repeat(500)}`;
    await play(view, chatJob, [
      { type: 'started', attempt: 1 },
      { type: 'token', text: long },
      { type: 'started', attempt: 2 },
      { type: 'token', text: 'short ' },
      { type: 'result', result: { text: 'short answer' } },
    ], 30);
    expect(calls.some((c) => c.op === 'followup')).toBe(true);
    expect(calls.at(-1)!.op).toBe('deleteFollowup');
    const lastOriginal = calls.filter((c) => c.op === 'editOriginal').at(-1)!;
    expect(lastOriginal.m?.content).toBe('short answer');
  });

  it('shows a helper job (an image being described) until the answer starts', async () => {
    const { rest, calls } = recorder();
    const view = new JobView(origin({ command: 'ask' }), deps(rest));
    feed(view, { id: 'cap', kind: 'caption', payload: { forChat: true } }, { type: 'queued', position: 1, etaSeconds: 4 });
    await pass(12);
    feed(view, { id: 'cap', kind: 'caption', payload: { forChat: true } }, { type: 'result', result: { text: 'a dog' } });
    await play(view, chatJob, [{ type: 'queued', position: 0, etaSeconds: 1 }, { type: 'result', result: { text: 'it is a dog' } }]);
    expect(calls[0]!.m?.content).toBe('👀 Looking at your image first — 2nd in line — starts in about 4 s.');
    expect(calls.at(-1)!.m?.content).toBe('it is a dog');
  });
  it('records each follow-up it posts with the jobs still running (the intent to post one first), and stops once they end', async () => {
    const { rest, calls } = recorder();
    const recorded: Array<{ jobIds: readonly string[]; posted: readonly PostedMessage[]; posting: PostingIntent | undefined }> = [];
    const view = new JobView(origin({ command: 'ask' }), deps(rest, { record: (jobIds, posted, posting) => recorded.push({ jobIds, posted, posting }) }));
    await play(view, chatJob, [
      { type: 'started', attempt: 1 },
      { type: 'token', text: 'word '.repeat(500) },
      { type: 'token', text: 'word '.repeat(500) },
      { type: 'result', result: { text: 'word '.repeat(1000) } },
    ], 30);
    const followups = calls.filter((c) => c.op === 'followup').map((c) => c.target);
    expect(followups.length).toBeGreaterThanOrEqual(2);
    // Follow-ups made while the job ran are recorded (the list grows); the ones after its result are not needed.
    expect(recorded.length).toBeGreaterThanOrEqual(1);
    for (const r of recorded) expect(r.jobIds).toEqual(['job2']);
    // Before the follow-up is asked for, the intent (with what was known then); its id replaces it.
    expect(recorded[0]).toEqual({ jobIds: ['job2'], posted: [], posting: { via: 'interaction', channelId: 'chan', after: '0' } });
    expect(recorded[1]).toEqual({ jobIds: ['job2'], posted: [{ via: 'interaction', channelId: 'chan', id: followups[0] }], posting: undefined });
  });

  it('removes the messages an earlier run recorded before posting the answer again', async () => {
    const { rest, calls } = recorder();
    const earlier: PostedMessage[] = [
      { via: 'interaction', channelId: 'chan', id: 'old1' },
      { via: 'channel', channelId: 'chan', id: 'old2' },
    ];
    const stored = parseOrigin(originToJson(origin({ command: 'ask', followups: earlier })))!;
    expect(stored.followups).toEqual(earlier);
    const view = new JobView(stored, deps(rest));
    view.removeEarlier(stored.followups ?? []);
    view.removeEarlier(stored.followups ?? []);
    await play(view, chatJob, [{ type: 'started', attempt: 2 }, { type: 'result', result: { text: 'answer' } }]);
    expect(calls.slice(0, 2).map((c) => `${c.op} ${c.target}`)).toEqual(['deleteFollowup old1', 'deleteMessage chan/old2']);
    expect(calls.filter((c) => c.op.startsWith('delete'))).toHaveLength(2);
    expect(calls.at(-1)!.m?.content).toBe('answer');
  });

  it('removes an earlier public follow-up as a channel message once the token is gone; a private one cannot be', async () => {
    const { rest, calls } = recorder({ tokenGone: true });
    const old = [{ via: 'interaction' as const, channelId: 'chan', id: 'old1' }];
    const expired = { id: 'i1', token: 'tok', applicationId: 'app', createdAt: Date.now() - 120_000 };
    new JobView(origin({ command: 'ask', interaction: expired }), deps(rest)).removeEarlier(old);
    new JobView(origin({ command: 'ask', interaction: expired, ephemeral: true }), deps(rest)).removeEarlier(old);
    await pass(20);
    expect(calls.map((c) => `${c.op} ${c.target}`)).toEqual(['deleteMessage chan/old1']);
  });
});
