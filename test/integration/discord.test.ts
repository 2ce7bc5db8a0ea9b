/**
 * The Discord adapter end to end: the real discord.js client logged into a fake Discord, a whole
 * hearth behind it with a simulated GPU (streamed chat tokens, real PNGs).
 */
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buttonIds, editGaps, ephemeralText, finishedAnswer, tooFastEdits } from '../fakes/discord/assertions.js';
import { EPHEMERAL, FakeDiscord, type FakeInteraction, type FakeMessage, type FakeUser } from '../fakes/discord/fake-discord.js';
import { discordHearth, type DiscordHearth } from '../fakes/discord/harness.js';

const INTERVAL = 250;

describe('Discord adapter', () => {
  let fake: FakeDiscord;
  let h: DiscordHearth;
  let admin: FakeUser;

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    admin = fake.user('root');
    h = await discordHearth({
      fake,
      discord: { editIntervalMs: INTERVAL, adminUsers: [admin.id] },
      config: { limits: { maxQueuedPerUser: 3 } },
      chatStepMs: 30,
      imageStepMs: 30,
    });
  });

  afterAll(async () => {
    await h?.stop();
    await fake?.close();
  });

  afterEach(() => h.gate.releaseAll());

  /**
   * Holds images whose prompt matches before their step `step`: they stay running (or queued behind
   * a held one) until the test releases them or cancels them, however slow the machine.
   */
  const holdImages = (prompt: RegExp, step = 3) =>
    h.gate.hold((s) => s.model === 'image' && s.step === step && prompt.test(String((s.payload as { prompt?: unknown }).prompt)));

  const original = (it: FakeInteraction) => fake.original(it);
  const settled = (it: FakeInteraction, test: (m: FakeMessage) => boolean, what: string) =>
    fake.waitFor(() => {
      const m = original(it);
      return m && !m.deleted && test(m) ? m : null;
    }, what);
  const errorOf = (it: FakeInteraction, what: string) => fake.waitFor(() => ephemeralText(fake, it), what);
  const png = (m: FakeMessage) => m.attachments.find((a) => a.content_type === 'image/png' && a.filename.startsWith('hearth-'));

  it('registers every command, with the configured option bounds', () => {
    const cmds = fake.commands();
    expect(cmds.map((c) => c.name).sort()).toEqual(['ask', 'cancel', 'caption', 'forget', 'hearth', 'imagine', 'queue']);
    const imagine = cmds.find((c) => c.name === 'imagine') as unknown as { options: Array<{ name: string; min_value?: number; max_value?: number }> };
    const steps = imagine.options.find((o) => o.name === 'steps')!;
    expect([steps.min_value, steps.max_value]).toEqual([1, 60]);
    expect(imagine.options.find((o) => o.name === 'guidance')!.max_value).toBe(30);
    expect(fake.gateway.intents() & (1 << 15)).toBe(0); // no privileged MessageContent intent
  });

  it('/ask streams the answer by editing the reply, then finishes it', async () => {
    const alice = fake.user('alice');
    const question = Array.from({ length: 30 }, (_, i) => `word${i}`).join(' ');
    const it = fake.slash('ask', { prompt: question }, { user: alice });
    const text = await fake.waitFor(() => finishedAnswer(fake, it), 'the finished answer');
    expect(text).toBe(`echo: ${question} `);
    const m = original(it)!;
    // Streamed: some versions show a growing part of the answer with a cursor.
    const partial = m.history.filter((c) => c.includes('▌'));
    expect(partial.length).toBeGreaterThanOrEqual(2);
    expect(partial[0]!.length).toBeLessThan(partial[partial.length - 1]!.length);
    expect(m.flags & EPHEMERAL).toBe(0);
    expect(it.callbacks[0]!.type).toBe(5);
    for (const g of editGaps(m)) expect(g).toBeGreaterThanOrEqual(INTERVAL - 2);
  });

  it('/ask past 2000 characters continues in follow-ups, nothing lost or repeated', async () => {
    const bob = fake.user('bob');
    const words = Array.from({ length: 38 }, (_, i) => `${String(i).padStart(2, '0')}${'x'.repeat(68)}`);
    const question = words.join(' ');
    const it = fake.slash('ask', { prompt: question }, { user: bob });
    const text = await fake.waitFor(() => (fake.followups(it).length > 0 ? finishedAnswer(fake, it) : null), 'a long answer in two messages');
    expect(text).toBe(`echo: ${question} `);
    const all = [original(it)!, ...fake.followups(it)];
    expect(all.length).toBe(2);
    for (const m of all) {
      expect(m.content.length).toBeLessThanOrEqual(2000);
      expect(m.flags & EPHEMERAL).toBe(0);
      for (const g of editGaps(m)) expect(g).toBeGreaterThanOrEqual(INTERVAL - 2);
    }
  });

  it('/ask private answers only the user', async () => {
    const carol = fake.user('carol');
    const it = fake.slash('ask', { prompt: 'a secret question', private: true }, { user: carol });
    await fake.waitFor(() => finishedAnswer(fake, it), 'the private answer');
    expect(original(it)!.flags & EPHEMERAL).toBe(EPHEMERAL);
  });

  it('/imagine shows progress with Cancel, then a PNG with its seed and options, Reroll and Delete', async () => {
    const dan = fake.user('dan');
    // Held after 4 steps until its progress has been shown, then let go.
    const held = holdImages(/^a red fox in snow$/, 5);
    const it = fake.slash('imagine', { prompt: 'a red fox in snow', size: '256x256', steps: 20, seed: 1234, guidance: 5 }, { user: dan });
    await held.reached;
    await settled(it, (x) => x.content.includes('step 4 of 20') && buttonIds(x).some((id) => id.startsWith('hearth:cancel:')), 'progress with Cancel');
    held.release();
    const m = await settled(it, (x) => !!png(x), 'the image');
    expect(m.content).toContain('a red fox in snow');
    expect(m.content).toContain('seed `1234`');
    expect(m.content).toContain('256×256');
    expect(m.content).toContain('20 steps');
    expect(m.content).toContain('guidance 5');
    const meta = await sharp(Buffer.from(png(m)!.bytes)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 256, 256]);
    const ids = buttonIds(m);
    expect(ids.some((id) => id.startsWith('hearth:reroll:'))).toBe(true);
    expect(ids.some((id) => id.startsWith('hearth:delete:'))).toBe(true);
    expect(m.history.some((c) => /step \d+ of 20/.test(c))).toBe(true);
    for (const g of editGaps(m)) expect(g).toBeGreaterThanOrEqual(INTERVAL - 2);
  });

  it('Reroll makes the same image with a new seed; Delete removes it, for its owner only', async () => {
    const erin = fake.user('erin');
    const first = fake.slash('imagine', { prompt: 'a lighthouse', size: '256x256', steps: 2, seed: 7 }, { user: erin });
    const m = await settled(first, (x) => !!png(x), 'the first image');
    const reroll = fake.click(m, buttonIds(m).find((id) => id.startsWith('hearth:reroll:'))!, { user: erin });
    const m2 = await settled(reroll, (x) => !!png(x), 'the rerolled image');
    expect(m2.id).not.toBe(m.id);
    expect(m2.content).toContain('a lighthouse');
    expect(m2.content).not.toContain('seed `7`');
    expect(m2.content).toContain('2 steps');

    const mallory = fake.user('mallory');
    const deleteId = buttonIds(m).find((id) => id.startsWith('hearth:delete:'))!;
    const denied = fake.click(m, deleteId, { user: mallory });
    expect(await errorOf(denied, 'the refusal')).toContain('Only the person who made this image');
    expect(m.deleted).toBe(false);
    fake.click(m, deleteId, { user: erin });
    await fake.waitFor(() => m.deleted, 'the image deleted');
  });

  it('Cancel stops a running image', async () => {
    const fay = fake.user('fay');
    const held = holdImages(/^a slow painting$/);
    const it = fake.slash('imagine', { prompt: 'a slow painting', size: '256x256', steps: 60 }, { user: fay });
    await held.reached;
    const running = await settled(it, (x) => /step \d+ of 60/.test(x.content), 'progress');
    const cancelId = buttonIds(running).find((id) => id.startsWith('hearth:cancel:'))!;
    expect(cancelId).toBeDefined();
    const press = fake.click(running, cancelId, { user: fay });
    const m = await settled(it, (x) => x.content.includes('Cancelled.'), 'the cancelled image');
    expect(m.components).toEqual([]);
    expect(press.callbacks[0]!.type).toBe(6);
    expect(h.app.engine.getJob(cancelId.split(':')[2]!)!.state).toBe('cancelled');
    const again = fake.click(running, cancelId, { user: fay });
    expect(await errorOf(again, 'the second cancel')).toBe('⚠️ That image has already ended.');
  });

  it('only the owner or an admin can cancel a job', async () => {
    const gil = fake.user('gil');
    const held = holdImages(/^not yours to stop$/);
    const it = fake.slash('imagine', { prompt: 'not yours to stop', size: '256x256', steps: 60 }, { user: gil });
    await held.reached;
    const running = await settled(it, (x) => /step \d+ of 60/.test(x.content), 'progress');
    const cancelId = buttonIds(running).find((id) => id.startsWith('hearth:cancel:'))!;
    const stranger = fake.click(running, cancelId, { user: fake.user('stranger') });
    expect(await errorOf(stranger, 'the refusal')).toBe("⚠️ You can't do that: only the job owner or an admin can cancel it.");
    fake.click(running, cancelId, { user: admin });
    await settled(it, (x) => x.content.includes('Cancelled by an admin.'), 'cancelled by the admin');
  });

  it('/caption describes an attached image, and answers a question about it', async () => {
    const gus = fake.user('gus');
    const bytes = new Uint8Array(await sharp({ create: { width: 32, height: 32, channels: 3, background: '#4080c0' } }).png().toBuffer());
    const image = fake.upload('photo.png', bytes, 'image/png');
    const plain = fake.slash('caption', { image }, { user: gus });
    const m = await settled(plain, (x) => x.content.includes('a simulated caption'), 'the caption');
    expect(m.content).toContain('📝');
    const asked = fake.slash('caption', { image, question: 'what colour is it?' }, { user: gus });
    const m2 = await settled(asked, (x) => x.content.includes('a simulated caption'), 'the answer');
    expect(m2.content).toContain('**Q:** what colour is it?');
  });

  it('says what is wrong with each bad input, privately', async () => {
    const hal = fake.user('hal');
    const steps = fake.slash('imagine', { prompt: 'x', steps: 80 }, { user: hal });
    expect(await errorOf(steps, 'the steps error')).toContain('Steps must be a whole number from 1 to 60; got 80');
    // The public "thinking…" reply is gone; only the user sees the error.
    // (hearth posts the note, then deletes the reply: wait for the second request rather than race it.)
    await fake.waitFor(() => original(steps)!.deleted, 'the public reply removed');

    const size = fake.slash('imagine', { prompt: 'x', size: 'huge' }, { user: hal });
    expect(await errorOf(size, 'the size error')).toContain('Size must look like 512x768');
    const guidance = fake.slash('imagine', { prompt: 'x', guidance: 99 }, { user: hal });
    expect(await errorOf(guidance, 'the guidance error')).toContain('Guidance must be from 0 to 30; got 99');
    const empty = fake.slash('ask', { prompt: '   ' }, { user: hal });
    expect(await errorOf(empty, 'the empty prompt error')).toContain('Your question is empty');

    const text = fake.upload('notes.txt', new TextEncoder().encode('hello'), 'text/plain');
    const notImage = fake.slash('caption', { image: text }, { user: hal });
    expect(await errorOf(notImage, 'the attachment error')).toContain('The file notes.txt is text/plain, not an image');

    const status = fake.slash('hearth status', {}, { user: hal });
    expect(await errorOf(status, 'the status refusal')).toContain("You can't do that: only hearth admins can see the status");
    expect(h.reported).toEqual([]);
  });

  it('refuses a job over the per-user queue cap, naming the limit; /queue and /cancel see the jobs', async () => {
    const ivy = fake.user('ivy');
    // The first stays running and the others wait behind it until they are cancelled.
    const held = holdImages(/^slow \d$/);
    const slow = [1, 2, 3].map((n) => fake.slash('imagine', { prompt: `slow ${n}`, size: '256x256', steps: 60 }, { user: ivy }));
    await held.reached;
    for (const s of slow) await settled(s, (x) => x.content.includes('slow') && x.components.length > 0, 'a queued image');
    const over = fake.slash('imagine', { prompt: 'one too many' }, { user: ivy });
    expect(await errorOf(over, 'the queue cap error')).toContain('You already have 3 jobs waiting or running (the limit is 3)');
    // A message (no interaction to answer privately) gets the error in hearth's reply.
    const said = fake.say(fake.dm(ivy), ivy, 'and a question');
    await fake.waitFor(
      () => [...fake.state.messages.values()].find((r) => r.replyTo === said.id && r.content.startsWith('⚠️ You already have 3 jobs')),
      'the error in the reply',
    );

    const queue = fake.slash('queue', {}, { user: ivy });
    const q = await settled(queue, (x) => x.content.includes('**Your jobs**'), 'the queue');
    expect(q.flags & EPHEMERAL).toBe(EPHEMERAL);
    const shortIds = [...q.content.matchAll(/image `([0-9a-f]{8})`/g)].map((m) => m[1]!);
    expect(shortIds).toHaveLength(3);

    const ac = fake.autocomplete('cancel', 'job', shortIds[0]!, { user: ivy });
    await fake.waitFor(() => ac.choices, 'autocomplete choices');
    expect(ac.choices!.map((c) => String(c.value).slice(0, 8))).toEqual([shortIds[0]]);

    for (const id of shortIds) {
      const c = fake.slash('cancel', { job: id }, { user: ivy });
      const m = await settled(c, (x) => x.content.includes('Cancelled your image job'), 'the cancel answer');
      expect(m.content).toContain(id);
    }
    for (const s of slow) await settled(s, (x) => x.content.includes('Cancelled.'), 'the image cancelled');
  });

  it('/hearth status shows admins the models, VRAM and queue', async () => {
    const status = fake.slash('hearth status', {}, { user: admin });
    const m = await settled(status, (x) => x.content.includes('**Models:**'), 'the status');
    expect(m.content).toContain('chat (chat');
    expect(m.content).toContain('**VRAM:**');
    expect(m.flags & EPHEMERAL).toBe(EPHEMERAL);
  });

  it('posts the result in the channel, mentioning the user, once the interaction token is gone', async () => {
    const jo = fake.user('jo');
    const held = holdImages(/^outlived its token$/);
    const it = fake.slash('imagine', { prompt: 'outlived its token', size: '256x256', steps: 20 }, { user: jo });
    await held.reached;
    await settled(it, (x) => /step \d+ of 20/.test(x.content), 'progress');
    // The token goes while the image is still being drawn; then it finishes.
    fake.expireToken(it);
    held.release();
    const posted = await fake.waitFor(
      () => fake.messagesIn(fake.channel.id).find((m) => m.via === 'channel' && m.content.includes('outlived its token') && !!png(m)),
      'the image posted in the channel',
    );
    expect(posted.content.startsWith(`<@${jo.id}> `)).toBe(true);
    expect(posted.allowedUsers).toEqual([jo.id]);
    expect(buttonIds(posted).some((id) => id.startsWith('hearth:reroll:'))).toBe(true);
  });

  it('kept every edit within the rate, made no request Discord would refuse, reported no error', () => {
    expect(tooFastEdits(fake, INTERVAL)).toEqual([]);
    expect(fake.state.unexpected).toEqual([]);
    // The expired token's one refused edit is the only error Discord gave.
    expect(fake.state.errors.every((e) => e.includes('→ 401 50027'))).toBe(true);
    expect(h.reported).toEqual([]);
  });
});
