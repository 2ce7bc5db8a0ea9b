/**
 * Conversations on Discord: DMs and hearth threads keep their memory (in the store) across a restart
 * of the whole app on the same data dir; mentions in a hearth thread continue it, with their images.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Json } from '../../src/engine/types.js';
import { finishedAnswer } from '../fakes/discord/assertions.js';
import { ChannelTypes, FakeDiscord, type FakeChannel, type FakeInteraction, type FakeMessage, type FakeUser } from '../fakes/discord/fake-discord.js';
import { discordHearth, type DiscordHearth } from '../fakes/discord/harness.js';

type Msg = { role: string; content: string };

describe('Discord conversations', () => {
  let fake: FakeDiscord;
  let h: DiscordHearth;
  let dave: FakeUser;
  let dm: FakeChannel;
  let thread: FakeChannel;
  const all: DiscordHearth[] = [];

  async function start(dataDir?: string): Promise<DiscordHearth> {
    h = await discordHearth({ fake, discord: { threadPerAsk: true }, chatStepMs: 5, imageStepMs: 40, ...(dataDir ? { dataDir } : {}) });
    all.push(h);
    return h;
  }

  async function restart(): Promise<void> {
    const { dataDir } = h;
    await h.stop();
    await start(dataDir);
  }

  /** The messages the chat model was given for the user's newest job. */
  function lastPrompt(user: FakeUser): { messages: Msg[]; conversationId: string | null } {
    const [job] = h.app.store.listJobs({ userId: `discord:${user.id}`, order: 'recent', limit: 1 });
    const p = job!.payload as { messages: Json };
    return { messages: p.messages as unknown as Msg[], conversationId: job!.conversationId };
  }

  const answered = (it: FakeInteraction) => fake.waitFor(() => finishedAnswer(fake, it), 'the answer');
  const replyTo = (m: FakeMessage, text: string) =>
    fake.waitFor(() => [...fake.state.messages.values()].find((r) => r.replyTo === m.id && r.content === text), `the reply "${text}"`);

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    dave = fake.user('dave');
    dm = fake.dm(dave);
    await start();
  });

  afterAll(async () => {
    for (const x of all) await x.stop();
    await fake?.close();
  });

  it('a DM conversation keeps its memory across a restart', async () => {
    await answered(fake.slash('ask', { prompt: 'my cat is called Miso' }, { user: dave, channel: dm }));
    await restart();
    await answered(fake.slash('ask', { prompt: 'what is my cat called?' }, { user: dave, channel: dm }));
    const { messages, conversationId } = lastPrompt(dave);
    expect(conversationId).toBe(`discord:dm:${dm.id}`);
    expect(messages).toContainEqual({ role: 'user', content: 'my cat is called Miso' });
    expect(messages).toContainEqual({ role: 'assistant', content: 'echo: my cat is called Miso ' });
    expect(messages.at(-1)).toEqual({ role: 'user', content: 'what is my cat called?' });
  });

  it('a plain message in the DM continues the same conversation', async () => {
    const m = fake.say(dm, dave, 'and how old is she?');
    await replyTo(m, 'echo: and how old is she? ');
    const { messages } = lastPrompt(dave);
    expect(messages).toContainEqual({ role: 'user', content: 'what is my cat called?' });
  });

  it('/ask in a channel opens a thread; a mention there continues it, across a restart', async () => {
    const it = fake.slash('ask', { prompt: 'plan a picnic' }, { user: dave });
    await answered(it);
    const starter = fake.original(it)!;
    thread = await fake.waitFor(() => fake.state.channels.get(starter.id), 'the thread');
    expect(thread).toMatchObject({ type: ChannelTypes.PublicThread, parent_id: fake.channel.id, owner_id: fake.bot.id, name: 'plan a picnic' });
    expect(lastPrompt(dave).conversationId).toBe(`discord:thread:${thread.id}`);

    await restart();
    const m = fake.say(thread, dave, 'and for dessert?', { mention: true });
    await replyTo(m, 'echo: and for dessert? ');
    const { messages, conversationId } = lastPrompt(dave);
    expect(conversationId).toBe(`discord:thread:${thread.id}`);
    expect(messages).toContainEqual({ role: 'user', content: 'plan a picnic' });
    expect(messages).toContainEqual({ role: 'assistant', content: 'echo: plan a picnic ' });
    expect(messages).not.toContainEqual({ role: 'user', content: 'my cat is called Miso' });
  });

  it('/ask inside the thread continues it too', async () => {
    await answered(fake.slash('ask', { prompt: 'who brings the blanket?' }, { user: dave, channel: thread }));
    const { messages } = lastPrompt(dave);
    expect(messages).toContainEqual({ role: 'user', content: 'and for dessert?' });
  });

  it('an image in a mention reaches the chat as a description', async () => {
    const bytes = new Uint8Array(await sharp({ create: { width: 24, height: 24, channels: 3, background: '#208040' } }).png().toBuffer());
    const photo = fake.upload('basket.png', bytes, 'image/png');
    const m = fake.say(thread, dave, 'is this basket big enough?', { mention: true, attachments: [photo] });
    await replyTo(m, 'echo: is this basket big enough? ');
    const { messages } = lastPrompt(dave);
    expect(messages.some((x) => x.content.includes('a simulated caption'))).toBe(true);
  });

  it('ignores mentions outside hearth threads and messages that do not mention it', async () => {
    const elsewhere = fake.say(fake.channel, dave, 'hello bot', { mention: true });
    const noMention = fake.say(thread, dave, 'just chatting');
    const marker = fake.say(thread, dave, 'last one', { mention: true });
    await replyTo(marker, 'echo: last one ');
    const replies = [...fake.state.messages.values()].filter((r) => r.replyTo === elsewhere.id || r.replyTo === noMention.id);
    expect(replies).toEqual([]);
  });

  it('/forget clears the DM conversation', async () => {
    const f = fake.slash('forget', {}, { user: dave, channel: dm });
    const m = await fake.waitFor(() => fake.original(f)?.content.startsWith('Forgot') && fake.original(f), 'the forget answer');
    expect(m.content).toMatch(/^Forgot [1-9]\d* messages of this conversation/);
    await answered(fake.slash('ask', { prompt: 'fresh start' }, { user: dave, channel: dm }));
    expect(lastPrompt(dave).messages.filter((x) => x.role !== 'system')).toEqual([{ role: 'user', content: 'fresh start' }]);
  });

  it('a job running when hearth stops is answered in its reply after the restart', async () => {
    const it = fake.slash('imagine', { prompt: 'survives a restart', size: '256x256', steps: 25 }, { user: dave });
    await fake.waitFor(() => /step \d+ of 25/.test(fake.original(it)?.content ?? ''), 'progress');
    await restart();
    const m = await fake.waitFor(() => {
      const o = fake.original(it);
      return o && o.attachments.some((a) => a.filename.startsWith('hearth-')) ? o : null;
    }, 'the image after the restart');
    expect(m.content).toContain('survives a restart');
    expect(all.every((x) => x.reported.length === 0)).toBe(true);
    expect(fake.state.unexpected).toEqual([]);
    expect(fake.state.errors).toEqual([]);
  });
});
