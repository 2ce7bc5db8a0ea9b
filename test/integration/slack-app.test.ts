/**
 * The Slack app end to end: the real @slack/bolt app (through hearth's Slack adapter) against the fake
 * Slack, in Socket Mode (answers streamed with chat.startStream) and in HTTP mode (where the fake has
 * no streaming, so answers are edited in with chat.update), on hearth's simulated GPU.
 */
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { Json } from '../../src/engine/types.js';
import { SlackHarness, waitFor } from '../fakes/slack/harness.js';
import { directMessage, mention } from '../fakes/slack/payloads.js';
import { buttonsOf, shownText, type FakeMessage } from '../fakes/slack/state.js';

const SLACK = { allowedTeams: ['T0001'], allowedChannels: ['C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7', 'C8'], adminUsers: ['UADMIN'] };

describe.each(['socket', 'http'] as const)('Slack app in %s mode', (mode) => {
  let h: SlackHarness;

  beforeAll(async () => {
    h = await SlackHarness.start({
      mode,
      imageStepMs: 30,
      slack: SLACK,
    });
    // HTTP mode runs against a Slack without the streaming methods: answers fall back to chat.update.
    h.fake.streaming = mode === 'socket';
  });

  afterAll(async () => {
    await h?.close({ fake: true });
  });

  // Nothing went wrong behind the scenes either (every handler error goes to reportError).
  afterEach(() => {
    h.gate.releaseAll();
    expect(h.errors).toEqual([]);
  });

  /** Holds the image whose prompt contains `prompt` before its step `step`: it runs until the test releases it. */
  const holdImage = (prompt: string, step = 3) =>
    h.gate.hold((s) => s.model === 'image' && s.step === step && String((s.payload as { prompt?: unknown }).prompt).includes(prompt));

  /** A finished answer containing `needle` in a thread (or top level when `thread` is null). */
  function answer(channel: string, thread: string | null, needle: string): FakeMessage | undefined {
    const msgs = thread ? h.fake.state.thread(channel, thread) : h.fake.state.topLevel(channel);
    return msgs.find((m) => {
      const text = m.stream ? m.text : shownText(m);
      if (!text.includes(needle)) return false;
      return m.stream ? m.stream.stopped : buttonsOf(m).length === 0;
    });
  }

  function chatJobs(user: string) {
    return h.app.store.listJobs({ userId: `slack:${user}` }).filter((j) => j.kind === 'chat');
  }

  function lastResponse(): string {
    const r = h.fake.responses.at(-1);
    return typeof r?.body.text === 'string' ? r.body.text : '';
  }

  test('/ask echoes the question escaped: markup Slack made of a typed @here or link pings no one', async () => {
    await h.command('/ask', 'why <!here> &amp; <@U2|bob> see <https://evil.example|docs> 1 &lt; 2', { user: 'U9', channel: 'C8', asSent: true });
    const root = await waitFor('the question', () => h.fake.state.topLevel('C8').find((m) => m.text.includes('asked:')));
    expect(root.text).toBe('*<@U9> asked:* why &lt;!here&gt; &amp; &lt;@U2|bob&gt; see &lt;https://evil.example|docs&gt; 1 &lt; 2');
  });

  test('/ask answers in a thread under the question, and the thread remembers it', async () => {
    const sent = await h.command('/ask', 'what is a hearth & why', { user: 'U1', channel: 'C1' });
    expect(sent.status).toBe(200);
    const root = await waitFor('the question', () => h.fake.state.topLevel('C1')[0]);
    expect(root.text).toBe('*<@U1> asked:* what is a hearth &amp; why');
    const reply = await waitFor('the answer', () => answer('C1', root.ts, 'echo: what is a hearth'));
    expect(reply.thread).toBe(root.ts);
    if (mode === 'socket') {
      expect(reply.stream?.recipient).toEqual({ team: 'T0001', user: 'U1' });
      // The status line with its Cancel button is gone once the streamed answer is complete.
      await waitFor('the status line removed', () => h.fake.state.thread('C1', root.ts).length === 1);
    } else {
      expect(shownText(reply)).toContain('echo: what is a hearth &amp; why');
    }
    const turns = await waitFor('the turns', () => {
      const t = h.app.store.getTurns(`slack:T0001:C1:${root.ts}`, 10);
      return t.length === 2 ? t : undefined;
    });
    expect(turns.map((t) => t.role)).toEqual(['user', 'assistant']);
    expect(turns[0]?.content).toBe('what is a hearth & why');
  });

  test('a mention gets a threaded answer; later mentions continue it, also after a restart', async () => {
    const first = mention('first question about ovens', { user: 'U2', channel: 'C2' });
    await h.event(first.event);
    await waitFor('the first answer', () => answer('C2', first.ts, 'echo: first question about ovens'));

    const second = mention('and the second one', { user: 'U2', channel: 'C2', thread: first.ts });
    await h.event(second.event);
    await waitFor('the second answer', () => answer('C2', first.ts, 'echo: and the second one'));
    const secondJob = chatJobs('U2').at(-1)!;
    expect(secondJob.conversationId).toBe(`slack:T0001:C2:${first.ts}`);
    expect(JSON.stringify(secondJob.payload)).toContain('first question about ovens');

    // hearth restarts on the same data; the thread's memory is in the store.
    await h.close();
    h = await SlackHarness.start({ mode, fake: h.fake, dataDir: h.dataDir, imageStepMs: 30, slack: SLACK });
    const third = mention('third time', { user: 'U2', channel: 'C2', thread: first.ts });
    await h.event(third.event);
    await waitFor('the third answer', () => answer('C2', first.ts, 'echo: third time'));
    const thirdJob = chatJobs('U2').at(-1)!;
    const history = (thirdJob.payload as { messages: Array<{ role: string; content: string }> }).messages;
    expect(history.map((m) => m.content)).toEqual(expect.arrayContaining(['first question about ovens', 'and the second one', 'third time']));
    expect(history.some((m) => m.role === 'assistant' && m.content.includes('echo: and the second one'))).toBe(true);
  });

  test('a direct message is a conversation, answered in the DM itself', async () => {
    const one = directMessage('hello there', { user: 'U3', channel: 'D3' });
    await h.event(one.event);
    const reply = await waitFor('the DM answer', () => answer('D3', null, 'echo: hello there'));
    expect(reply.thread).toBeUndefined();
    const two = directMessage('and again', { user: 'U3', channel: 'D3' });
    await h.event(two.event);
    await waitFor('the second DM answer', () => answer('D3', null, 'echo: and again'));
    const job = chatJobs('U3').at(-1)!;
    expect(job.conversationId).toBe('slack:T0001:D3');
    expect(JSON.stringify(job.payload)).toContain('hello there');
  });

  test('an image shared with a mention is looked at and the chat sees its description', async () => {
    const png = await sharp({ create: { width: 32, height: 24, channels: 3, background: { r: 200, g: 30, b: 30 } } }).png().toBuffer();
    const file = h.fake.addFile(new Uint8Array(png));
    const before = h.fake.fileRequests.length;
    const m = mention('what is in this picture', { user: 'U4', channel: 'C4', files: [file] });
    await h.event(m.event);
    await waitFor('the answer', () => answer('C4', m.ts, 'echo: what is in this picture'));
    expect(h.fake.fileRequests.length).toBe(before + 1);
    const job = chatJobs('U4').at(-1)!;
    expect((job.payload as { context: Json[] }).context.join(' ')).toContain('a simulated caption');
  });

  test('/imagine with flags posts progress and uploads a PNG with its seed; Reroll makes another', async () => {
    // Held after 4 steps until its progress has been shown, then let go.
    const held = holdImage('a red fox in snow', 5);
    await h.command('/imagine', 'a red fox in snow --steps 20 --seed 7 --size 768x512 --no "text, watermark"', { user: 'U5', channel: 'C5' });
    const root = await waitFor('the prompt', () => h.fake.state.topLevel('C5')[0]);
    expect(root.text).toBe('*<@U5> imagines:* a red fox in snow');
    await held.reached;
    await waitFor('progress shown', () => h.fake.state.thread('C5', root.ts).some((m) => /Painting….*step 4 of 20/.test(shownText(m))));
    held.release();
    const file = await waitFor('the upload', () => h.fake.state.files.find((f) => f.channel === 'C5' && f.thread === root.ts));
    const meta = await sharp(file.bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 768, 512]);
    expect(file.comment).toContain('seed 7');
    expect(file.comment).toContain('768×512');
    expect(file.comment).toContain('no: text, watermark');
    const status = await waitFor('the Reroll button', () => h.fake.state.thread('C5', root.ts).find((m) => buttonsOf(m).some((b) => b.action === 'hearth_reroll')));
    expect(status.history.some((t) => /Painting….*step \d+ of 20/.test(t))).toBe(true);
    expect(h.fake.state.callsOf('files.getUploadURLExternal').length).toBeGreaterThan(0);

    const jobId = buttonsOf(status).find((b) => b.action === 'hearth_reroll')!.value;
    await h.press('hearth_reroll', jobId, { user: 'U5', channel: 'C5', messageTs: status.ts, thread: root.ts });
    const files = await waitFor('the rerolled upload', () => {
      const f = h.fake.state.files.filter((x) => x.channel === 'C5' && x.thread === root.ts);
      return f.length === 2 ? f : undefined;
    });
    const again = await sharp(files[1]!.bytes).metadata();
    expect([again.width, again.height]).toEqual([768, 512]);
    expect(files[1]!.comment).toMatch(/seed \d+/);
    expect(files[1]!.comment).not.toContain('seed 7 ');
  });

  test('Cancel stops a running image; only its owner or an admin may press it', async () => {
    // The image stays running (2 steps done) until the test is through: no race with its end.
    const held = holdImage('a very slow painting');
    await h.command('/imagine', 'a very slow painting --steps 60', { user: 'U6', channel: 'C6' });
    await held.reached;
    const root = await waitFor('the prompt', () => h.fake.state.topLevel('C6')[0]);
    const status = await waitFor('a running image', () =>
      h.fake.state.thread('C6', root.ts).find((m) => /Painting/.test(shownText(m)) && buttonsOf(m).some((b) => b.action === 'hearth_cancel')),
    );
    const jobId = buttonsOf(status).find((b) => b.action === 'hearth_cancel')!.value;

    await h.press('hearth_cancel', jobId, { user: 'U7', channel: 'C6', messageTs: status.ts, thread: root.ts });
    await waitFor('the refusal', () => lastResponse().includes("can't"));
    expect(lastResponse()).toContain('only the job owner or an admin can cancel it');

    await h.press('hearth_cancel', jobId, { user: 'UADMIN', channel: 'C6', messageTs: status.ts, thread: root.ts });
    await waitFor('the cancel shown', () => shownText(h.fake.state.find('C6', status.ts)!).includes('Cancelled by <@UADMIN>'));
    expect(h.app.engine.getJob(jobId)?.state).toBe('cancelled');
    // The cancel ended the held step (it never ran on).
    expect(held.holding).toBe(false);
    expect(buttonsOf(h.fake.state.find('C6', status.ts)!)).toEqual([]);
    expect(h.fake.state.files.filter((f) => f.channel === 'C6')).toEqual([]);
  });

  test('/hearth queue shows your jobs and /hearth cancel cancels the newest', async () => {
    const held = holdImage('another slow painting');
    await h.command('/imagine', 'another slow painting --steps 60', { user: 'U11', channel: 'C7' });
    await held.reached;
    const root = await waitFor('the prompt', () => h.fake.state.topLevel('C7')[0]);
    const status = await waitFor('a running image', () => h.fake.state.thread('C7', root.ts).find((m) => /Painting/.test(shownText(m))));
    // A second picture waits behind the first: its status shows where it stands, and Cancel works there too.
    await h.command('/imagine', 'a queued painting', { user: 'U11', channel: 'C7' });
    const root2 = await waitFor('the second prompt', () => h.fake.state.topLevel('C7')[1]);
    const waiting = await waitFor('a waiting image', () =>
      h.fake.state.thread('C7', root2.ts).find((m) => /You're next|in line/.test(shownText(m)) && buttonsOf(m).some((b) => b.action === 'hearth_cancel')),
    );
    await h.command('/hearth', 'queue', { user: 'U11', channel: 'C7' });
    await waitFor('the queue', () => lastResponse().includes('*Your jobs*'));
    expect(lastResponse()).toContain('• image: running');
    expect(lastResponse()).toMatch(/• image: next, starts in/);
    await h.press('hearth_cancel', buttonsOf(waiting)[0]!.value, { user: 'U11', channel: 'C7', messageTs: waiting.ts, thread: root2.ts });
    await waitFor('the waiting one cancelled', () => shownText(h.fake.state.find('C7', waiting.ts)!) === '_Cancelled._');
    await h.command('/hearth', 'cancel', { user: 'U11', channel: 'C7' });
    await waitFor('the cancel told', () => lastResponse() === 'Cancelled your image job.');
    await waitFor('the cancel shown', () => shownText(h.fake.state.find('C7', status.ts)!) === '_Cancelled._');
  });

  test('an image running when hearth stops is finished after the restart, in its thread', async () => {
    // Still running when hearth stops (held after 2 of its 30 steps), whatever the machine's speed.
    const held = holdImage('a lighthouse');
    await h.command('/imagine', 'a lighthouse --steps 30 --seed 3', { user: 'U10', channel: 'C3' });
    await held.reached;
    const root = await waitFor('the prompt', () => h.fake.state.topLevel('C3')[0]);
    const status = await waitFor('a running image', () => h.fake.state.thread('C3', root.ts).find((m) => /Painting/.test(shownText(m))));
    await h.close();
    h = await SlackHarness.start({ mode, fake: h.fake, dataDir: h.dataDir, imageStepMs: 30, slack: SLACK });
    const file = await waitFor('the upload after the restart', () => h.fake.state.files.find((f) => f.channel === 'C3' && f.thread === root.ts));
    expect(file.comment).toContain('seed 3');
    await waitFor('the same status message done', () => buttonsOf(h.fake.state.find('C3', status.ts)!).some((b) => b.action === 'hearth_reroll'));
  });

  test('a retried event runs its job once', async () => {
    const m = mention('count me once', { user: 'U8', channel: 'C8' });
    const sent = await h.event(m.event);
    const dropped = h.adapter.stats.duplicates;
    const retry = await h.retry(sent.body);
    expect(retry.status).toBe(200);
    await waitFor('the retry dropped', () => h.adapter.stats.duplicates > dropped);
    await waitFor('the answer', () => answer('C8', m.ts, 'echo: count me once'));
    await h.app.engine.whenIdle();
    expect(chatJobs('U8')).toHaveLength(1);
    expect(h.fake.state.thread('C8', m.ts).filter((x) => (x.stream ? x.text : shownText(x)).includes('echo: count me once'))).toHaveLength(1);
  });

  test('refusals and mistakes are told privately, in plain words', async () => {
    await h.command('/ask', 'anyone here?', { user: 'U9', channel: 'C99' });
    await waitFor('the channel refusal', () => lastResponse().includes('not enabled in this channel'));
    expect(h.fake.state.topLevel('C99')).toEqual([]);

    await h.command('/imagine', 'a cat --steps many', { user: 'U9', channel: 'C1' });
    await waitFor('the flag error', () => lastResponse().includes('--steps takes a whole number; got "many"'));

    const before = h.fake.state.topLevel('C1').length;
    await h.command('/imagine', 'a cat --steps 80', { user: 'U9', channel: 'C1' });
    await waitFor('the limit error', () => lastResponse().includes('Steps must be a whole number from 1 to 60; got 80.'));
    // What was posted before the refusal is taken back.
    expect(h.fake.state.topLevel('C1')).toHaveLength(before);

    await h.command('/imagine', 'help', { user: 'U9', channel: 'C1' });
    await waitFor('the help', () => lastResponse().includes('--steps N'));

    const elsewhere = mention('hello from another workspace', { user: 'U9', channel: 'C1', team: 'T9999' });
    await h.event(elsewhere.event, { team: 'T9999' });
    await h.command('/ask', 'ping', { user: 'U9', channel: 'C2' });
    await waitFor('a later answer', () => h.fake.state.topLevel('C2').some((m) => m.text.includes('ping')));
    expect(h.fake.state.thread('C1', elsewhere.ts)).toEqual([]);
    expect(h.fake.state.ephemerals.filter((e) => e.thread === elsewhere.ts)).toEqual([]);
  });
});
