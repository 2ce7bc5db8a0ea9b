/**
 * The platform conformance suite: the same behaviours, asserted the same way, through every platform
 * adapter (web console, Slack, Discord), each driven from the outside by its {@link PlatformDriver} on
 * hearth's simulated GPU (test/helpers/sim-app.ts: the chat echoes "echo: <question>" word by word,
 * an image is a real PNG after `steps` steps, a caption is "a simulated caption").
 *
 * A behaviour a platform shows differently is declared by its driver ({@link Capabilities}) and the
 * declared variant is asserted; nothing is skipped. Faults of the simulated GPU (a captioner that cannot
 * read an image, a worker that dies under a step, a chat held at a step until the test lets it go) and
 * restarts (on the same data dir, the platform staying up; optionally with the models still starting)
 * are the driver's, so every face meets them the same way; tests wait for what a face shows, never for
 * a duration.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Json } from '../../src/engine/types.js';
import { waitText } from '../../src/commands/wording.js';
import { VARIATIONS } from '../../src/commands/image-choices.js';
import { SAMPLER_LABELS } from '../../src/jobs/image.js';
import type { ConformanceSetup, DriverUser, PendingAsk, PlatformDriver, Shown } from './driver.js';
import { jobIds, textOf, waitFor, waitUntil } from './support.js';

/** The one setup every driver builds its hearth with. */
export const SETUP: ConformanceSetup = { maxQueuedPerUser: 2, chatStepMs: 15, imageStepMs: 50 };

/** The image bound every platform has by default (models.image.limits.maxSteps). */
const MAX_STEPS = 60;

/** Stack frames, file positions and error class names: what a user must never be shown. */
const STACK_TRACE = /\n\s+at\s|\bat\s+\S+\s+\(.*:\d+:\d+\)|node:internal|\.[cm]?[jt]s:\d+:\d+|\b[A-Z]\w*Error:/;

/**
 * A question of 39 long words (the simulated chat echoes at most 40 words): about 3,200 characters,
 * past Discord's 2,000 per message and Slack's 3,000 per section, so splitting is exercised too.
 */
const LONG_QUESTION = Array.from({ length: 39 }, (_, i) => `${String(i).padStart(2, '0')}${'hearthstone'.repeat(7)}x`).join(' ');

type Message = { role: string; content: string };

function chatMessages(d: PlatformDriver, jobId: string): Message[] {
  const job = d.app.engine.getJob(jobId);
  if (!job) throw new Error(`job ${jobId} is not known to the engine`);
  const p = job.payload as { messages?: Json };
  return (p.messages ?? []) as unknown as Message[];
}

export function expectPlainWords(shown: Shown | { text: string }, what: string): void {
  expect(shown.text.trim().length, `${what}: nothing was shown`).toBeGreaterThan(0);
  expect(shown.text, `${what}: looks like a stack trace`).not.toMatch(STACK_TRACE);
}

/** Every `/command` a text points the user to is one they can type on this platform. */
async function expectOfferedCommands(d: PlatformDriver, shown: { text: string }, what: string): Promise<void> {
  const offered = await d.offeredCommands();
  const named = [...shown.text.matchAll(/(?:^|[\s(`'"])\/([a-z][\w-]*)/g)].map((m) => m[1]!);
  expect(named.filter((c) => !offered.includes(c)), `${what} names commands ${d.name} does not have (it has ${offered.map((c) => `/${c}`).join(', ')}): ${shown.text}`).toEqual([]);
}

/** Words that send the person back to repeat what they asked. */
const ASK_AGAIN = /\b(ask|send|try)\b[^.]{0,30}\bagain\b|\bre-?ask\b/i;

/**
 * The question shows its answer exactly once: one message (card) with the whole answer, none with a
 * part of it left behind, and nothing telling the person to ask again.
 */
async function expectAnsweredOnce(d: PlatformDriver, asked: PendingAsk, answer: string): Promise<void> {
  const shown = await d.shows(asked);
  const first = answer.split(' ').slice(0, 2).join(' ');
  const withAnswer = shown.filter((s) => s.includes(first));
  expect(withAnswer, `${d.name} shows the answer in ${withAnswer.length} messages: ${textOf(shown)}`).toHaveLength(1);
  expect(withAnswer[0]).toContain(answer);
  expect(shown.filter((s) => ASK_AGAIN.test(s)), 'the person was told to ask again').toEqual([]);
  for (const s of shown) expectPlainWords({ text: s || '(empty)' }, 'what the question shows');
}

/**
 * The payload of every job as it was queued (the store drops an image-to-image job's init image once
 * it ends, as it does every upload), caught from the engine's first event of each job.
 */
function payloadsOf(d: PlatformDriver): Map<string, Record<string, Json>> & { stop(): void } {
  const seen = new Map<string, Record<string, Json>>() as Map<string, Record<string, Json>> & { stop(): void };
  const off = d.app.engine.on((e) => {
    if (seen.has(e.jobId)) return;
    const p = d.app.engine.getJob(e.jobId)?.payload;
    if (p && typeof p === 'object' && !Array.isArray(p)) seen.set(e.jobId, p);
  });
  seen.stop = off;
  return seen;
}

async function png(width: number, height: number): Promise<Uint8Array> {
  return new Uint8Array(await sharp({ create: { width, height, channels: 3, background: '#4080c0' } }).png().toBuffer());
}

/** Registers the conformance suite for one platform; `make` builds and starts its driver. */
export function conformanceSuite(label: string, make: (setup: ConformanceSetup) => Promise<PlatformDriver>): void {
  describe(`${label}: platform conformance`, () => {
    let d: PlatformDriver;
    let n = 0;
    const fresh = (name: string): Promise<DriverUser> => d.user(`${name}${++n}`);

    beforeAll(async () => {
      d = await make(SETUP);
    });
    afterAll(async () => {
      await d?.close();
    });

    it('1. /ask: the answer streams, and the user sees the whole of it, nothing lost or repeated', async () => {
      const u = await fresh('ann');
      // The chat waits halfway until the face shows part of it: streaming is seen, not timed.
      const hold = d.faults.holdChat(20);
      const asked = await d.startAsk(u, LONG_QUESTION);
      try {
        await hold.reached;
        await waitFor('part of the answer shown while it is generated', async () => (await d.shows(asked)).some((s) => s.includes('echo: 00')), { last: async () => textOf(await d.shows(asked)) });
      } finally {
        hold.release();
      }
      const a = await d.answer(asked);
      expect(a.text.trim()).toBe(`echo: ${LONG_QUESTION}`);
      expect(d.app.engine.getJob(a.jobId)?.state).toBe('done');
      // At least two different versions of the answer were shown while it streamed.
      const distinct = new Set(a.views.map((v) => v.trimEnd()));
      expect(distinct.size, `streamed views: ${textOf(a.views.map((v) => v.slice(-40)))}`).toBeGreaterThanOrEqual(2);
      expect([...distinct].some((v) => v.length < a.text.trimEnd().length), 'no partial answer was ever shown').toBe(true);
      // While it streamed, every version shown was a beginning of the final answer (no text taken back or doubled).
      for (const v of a.views) expect(a.text.startsWith(v.trimEnd()), `a streamed version is not a prefix of the answer: ${JSON.stringify(v.slice(-120))}`).toBe(true);
      for (let i = 1; i < a.views.length; i++) expect(a.views[i]!.trimEnd().length).toBeGreaterThanOrEqual(a.views[i - 1]!.trimEnd().length);
    });

    it('2. a follow-up in the same conversation is given the earlier turn; /forget clears it', async () => {
      const u = await fresh('bo');
      const first = await d.ask(u, 'my cat is called Miso');
      const second = await d.ask(u, 'what is my cat called', { conversation: first.conversation });
      expect(second.text.trim()).toBe('echo: what is my cat called');
      const given = chatMessages(d, second.jobId);
      expect(given).toContainEqual({ role: 'user', content: 'my cat is called Miso' });
      expect(given.some((m) => m.role === 'assistant' && m.content.trim() === 'echo: my cat is called Miso')).toBe(true);
      expect(given.at(-1)).toEqual({ role: 'user', content: 'what is my cat called' });

      // A new /ask: its own conversation where each /ask opens one, the same one where a user has one.
      const other = await d.ask(u, 'something else entirely');
      const otherGiven = chatMessages(d, other.jobId).some((m) => m.content === 'my cat is called Miso');
      expect(otherGiven).toBe(d.capabilities.conversations === 'per-user');

      const forgot = await d.forget(u, first.conversation);
      expectPlainWords(forgot, '/forget');
      await expectOfferedCommands(d, forgot, 'the /forget answer');
      const third = await d.ask(u, 'fresh start', { conversation: first.conversation });
      expect(third.text.trim()).toBe('echo: fresh start');
      expect(chatMessages(d, third.jobId).filter((m) => m.role !== 'system')).toEqual([{ role: 'user', content: 'fresh start' }]);
    });

    it('3. /imagine: a PNG at the requested size, with its seed shown', async () => {
      const u = await fresh('cy');
      const pic = await d.imagine(u, { prompt: 'a lighthouse at dusk', width: 640, height: 448, steps: 4, seed: 1234 });
      const meta = await sharp(pic.png).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', 640, 448]);
      expect(pic.seed).toBe(1234);
      expect(pic.text).toContain('1234');
      expect(d.app.engine.getJob(pic.jobId)?.state).toBe('done');
    });

    it('4. /caption: the caption is shown (or, where declared, given to the chat)', async () => {
      const u = await fresh('di');
      const shown = await d.caption(u, await png(32, 24));
      expectPlainWords(shown, '/caption');
      const job = d.app.engine.getJob(shown.jobId)!;
      if (d.capabilities.caption === 'command') {
        expect(job.kind).toBe('caption');
        expect(shown.text).toContain('a simulated caption');
      } else {
        expect(job.kind).toBe('chat');
        expect(JSON.stringify((job.payload as { context?: Json }).context)).toContain('a simulated caption');
      }
      expect(job.state).toBe('done');
    });

    it('5. steps out of range: an error naming the allowed range, in plain words, and no job', async () => {
      const u = await fresh('ed');
      const before = jobIds(d.app, u.userId).length;
      const refused = await d.refusedImagine(u, { prompt: 'a cat', steps: 999 });
      expectPlainWords(refused, 'the steps error');
      expect(refused.text).toContain(`1 to ${MAX_STEPS}`);
      expect(refused.text).toContain('999');
      await expectOfferedCommands(d, refused, 'the steps error');
      expect(refused.visibility).toBe(d.capabilities.ephemeral ? 'ephemeral' : 'requester');
      expect(jobIds(d.app, u.userId)).toHaveLength(before);
      const declared = await d.declaredStepsRange();
      if (d.capabilities.optionBounds) {
        expect(declared?.max).toBe(MAX_STEPS);
        if (declared?.min !== undefined) expect(declared.min).toBe(1);
      } else expect(declared).toBeUndefined();
    });

    it('6. over the per-user queue cap: an error naming the limit, and no job', async () => {
      const u = await fresh('flo');
      const started: string[] = [];
      try {
        for (let i = 0; i < SETUP.maxQueuedPerUser; i++) started.push((await d.startImagine(u, { prompt: `slow painting ${i}`, steps: MAX_STEPS })).jobId);
        const refused = await d.refusedImagine(u, { prompt: 'one too many', steps: 4 });
        expectPlainWords(refused, 'the queue cap error');
        expect(refused.text).toMatch(/limit/i);
        expect(refused.text).toMatch(new RegExp(`\\b${SETUP.maxQueuedPerUser}\\b`));
        await expectOfferedCommands(d, refused, 'the queue cap error');
        expect(refused.visibility).toBe(d.capabilities.ephemeral ? 'ephemeral' : 'requester');
        expect(jobIds(d.app, u.userId)).toHaveLength(SETUP.maxQueuedPerUser);
      } finally {
        for (const id of started) d.app.engine.cancel(id, { userId: u.userId, admin: true });
        await waitUntil('the slow paintings cancelled', () => started.every((id) => d.app.engine.getJob(id)?.state === 'cancelled'));
      }
    });

    it('7. cancelling a running job ends it as cancelled, and the user is told', async () => {
      const u = await fresh('gus');
      const { jobId } = await d.startImagine(u, { prompt: 'a very slow painting', steps: MAX_STEPS });
      await waitUntil('the painting running', () => d.app.engine.getJob(jobId)?.state === 'running');
      const told = await d.cancel(u, jobId);
      expect(d.app.engine.getJob(jobId)?.state).toBe('cancelled');
      expectPlainWords(told, 'the cancel');
      expect(told.text).toMatch(/cancel/i);
      await expectOfferedCommands(d, told, 'the cancel notice');
    });

    it('8. /ask with an image: the description reaches the chat, and the answer shows once', async () => {
      const u = await fresh('hal');
      const asked = await d.startAsk(u, 'what is in this picture', { image: await png(32, 24) });
      const a = await d.answer(asked);
      expect(a.text).toContain('echo: what is in this picture');
      const job = d.app.engine.getJob(a.jobId)!;
      expect(job.state).toBe('done');
      expect(JSON.stringify((job.payload as { context?: Json }).context)).toContain('a simulated caption');
      expect(jobIds(d.app, u.userId, 'caption').map((id) => d.app.engine.getJob(id)?.state)).toEqual(['done']);
      await expectAnsweredOnce(d, asked, 'echo: what is in this picture');
    });

    it('9. /ask with an image that cannot be described: still answered, once, and not told to ask again', async () => {
      const u = await fresh('ida');
      d.faults.captionFails = true;
      let asked: PendingAsk;
      try {
        asked = await d.startAsk(u, 'and what about this one', { image: await png(24, 32) });
        await waitUntil('the description failed', () => jobIds(d.app, u.userId, 'caption').some((id) => d.app.engine.getJob(id)?.state === 'failed'));
      } finally {
        d.faults.captionFails = false;
      }
      const a = await d.answer(asked);
      expect(a.text).toContain('echo: and what about this one');
      expect(d.app.engine.getJob(a.jobId)?.state).toBe('done');
      await expectAnsweredOnce(d, asked, 'echo: and what about this one');
    });

    it('10. a worker crash mid-answer: retried once, answered once', async () => {
      const u = await fresh('jo');
      d.faults.crashChat(3);
      const asked = await d.startAsk(u, 'what happens when the worker dies');
      const a = await d.answer(asked);
      expect(a.text.trim()).toBe('echo: what happens when the worker dies');
      const job = d.app.engine.getJob(a.jobId)!;
      expect([job.state, job.crashes, job.attempts]).toEqual(['done', 1, 2]);
      await expectAnsweredOnce(d, asked, 'echo: what happens when the worker dies');
    });

    it('11. a restart mid-answer leaves exactly one final answer, no second copy and no orphaned part', async () => {
      const u = await fresh('kit');
      const hold = d.faults.holdChat(5);
      const asked = await d.startAsk(u, 'tell me a story about the sea and the lighthouse');
      try {
        await hold.reached;
        await waitFor('part of the answer shown before the restart', async () => (await d.shows(asked)).some((s) => s.includes('echo: tell')), { last: async () => textOf(await d.shows(asked)) });
        await d.restart();
      } finally {
        hold.release();
      }
      const a = await d.answer(asked);
      expect(a.text.trim()).toBe('echo: tell me a story about the sea and the lighthouse');
      expect(d.app.engine.getJob(a.jobId)?.state).toBe('done');
      await expectAnsweredOnce(d, asked, 'echo: tell me a story about the sea and the lighthouse');
    });

    it('12. a command sent while hearth starts is accepted, the person told it is starting, and answered', async () => {
      const u = await fresh('lu');
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      let asked: PendingAsk;
      try {
        await d.restart({ describeGate: gate });
        expect(d.app.engine.readiness()).toBe('starting');
        asked = await d.startAsk(u, 'are you awake yet');
        const told = waitText({ position: 0, etaSeconds: 0, starting: true });
        await waitFor('the person told hearth is starting', async () => (await d.shows(asked)).some((s) => s.includes(told)), { last: async () => textOf(await d.shows(asked)) });
        expect(d.app.engine.readiness()).toBe('starting');
      } finally {
        open();
      }
      const a = await d.answer(asked);
      expect(a.text.trim()).toBe('echo: are you awake yet');
      expect(d.app.engine.getJob(a.jobId)?.state).toBe('done');
      await expectAnsweredOnce(d, asked, 'echo: are you awake yet');
    });

    it('14. /imagine with an image and a strength: an image-to-image job carrying the bytes and the strength', async () => {
      const u = await fresh('mo');
      const source = await png(64, 48);
      const seen = payloadsOf(d);
      try {
        const { jobId } = await d.startImagine(u, { prompt: 'the same, at night', image: source, strength: 0.45, steps: 4 });
        const p = await waitUntil('the queued payload', () => seen.get(jobId));
        expect(p.initImageBase64).toBe(Buffer.from(source).toString('base64'));
        expect(p.strength).toBe(0.45);
        expect(p.variationOf).toBeUndefined();
        await waitUntil('the image-to-image job done', () => d.app.engine.getJob(jobId)?.state === 'done');
      } finally {
        seen.stop();
      }
    });

    it('15. Vary on a finished picture: a variation job of the presser with that PNG, the chosen strength and a new seed; the face says so', async () => {
      const u = await fresh('ned');
      const pic = await d.imagine(u, { prompt: 'a red barn', width: 512, height: 512, steps: 3, seed: 4321 });
      const seen = payloadsOf(d);
      try {
        const subtle = await d.vary(u, pic.jobId, 'subtle');
        const strong = await d.vary(u, pic.jobId, 'strong');
        for (const [v, strength] of [[subtle, VARIATIONS[0].strength], [strong, VARIATIONS[1].strength]] as const) {
          const p = seen.get(v.jobId)!;
          expect(p.initImageBase64).toBe(Buffer.from(pic.png).toString('base64'));
          expect([p.strength, p.variationOf, p.prompt, p.width, p.height]).toEqual([strength, pic.jobId, 'a red barn', 512, 512]);
          expect(p.seed).not.toBe(4321);
          const job = d.app.engine.getJob(v.jobId)!;
          expect([job.kind, job.userId, job.state]).toEqual(['image', u.userId, 'done']);
          expectPlainWords(v, 'the variation');
          // The shared view's words, the same on every face.
          expect(v.text).toContain(`Variation of ${pic.jobId.slice(0, 8)} · strength ${strength}`);
        }
      } finally {
        seen.stop();
      }
    });

    it('16. a strength out of range is refused naming 0 to 1, and no job', async () => {
      const u = await fresh('ola');
      const before = jobIds(d.app, u.userId).length;
      const refused = await d.refusedImagine(u, { prompt: 'a cat', image: await png(32, 32), strength: 1.5 });
      expectPlainWords(refused, 'the strength error');
      expect(refused.text).toContain('from 0 to 1');
      expect(refused.text).toContain('1.5');
      expect(refused.visibility).toBe(d.capabilities.ephemeral ? 'ephemeral' : 'requester');
      expect(jobIds(d.app, u.userId)).toHaveLength(before);
    });

    it("17. where the options are chosen, the model's samplers, sizes, steps and defaults are shown", async () => {
      const shown = await d.imagineChoices();
      for (const label of Object.values(SAMPLER_LABELS)) expect(shown, `the sampler ${label}`).toContain(label);
      const img = d.app.commands.limits.image;
      expect(shown).toContain(String(img.maxSteps));
      expect(shown).toContain(String(img.maxSize));
      expect(shown).toContain(`${img.defaults.width}x${img.defaults.height}`);
    });

    it('13. no configured secret reaches anything a user sees or the platform recorded; no stack trace is shown', async () => {
      expect(d.secrets.length).toBeGreaterThan(0);
      const { shown, recorded } = await d.exposed();
      expect(shown.length).toBeGreaterThan(0);
      const seen = [...shown, ...recorded];
      for (const secret of d.secrets) {
        const leaks = seen.filter((s) => s.includes(secret)).map((s) => s.slice(Math.max(0, s.indexOf(secret) - 200), s.indexOf(secret) + 60));
        expect(leaks, `secret ${secret.slice(0, 12)}… leaked`).toEqual([]);
      }
      expect(shown.filter((s) => STACK_TRACE.test(s)).map((s) => s.slice(0, 300))).toEqual([]);
    });

    it('reported no handler errors along the way', () => {
      expect(d.reported()).toEqual([]);
    });
  });
}
