/**
 * A busy channel: 50 users run /ask, /imagine and /caption at the same moment. Every interaction is
 * acknowledged within Discord's 3 seconds, every job is answered, none is lost, and no message is
 * edited faster than `discord.editIntervalMs` (measured by the fake Discord as the edits arrive).
 */
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { editGaps, finishedAnswer } from '../fakes/discord/assertions.js';
import { FakeDiscord, type FakeInteraction } from '../fakes/discord/fake-discord.js';
import { discordHearth, type DiscordHearth } from '../fakes/discord/harness.js';

const USERS = 50;
const INTERVAL = 250;

// discord.js holds all REST traffic to 50 requests a second by default (Discord's global limit); with
// that lifted, the adapter's own per-message throttle is all that keeps the edit rate.
describe.each([
  ['the default REST limits', {}],
  ['the REST limits lifted', { globalRequestsPerSecond: 10_000 }],
])('Discord under load, with %s', (_limits, rest) => {
  let fake: FakeDiscord;
  let h: DiscordHearth;

  afterAll(async () => {
    await h?.stop();
    await fake?.close();
  });

  it(`${USERS} users × 3 commands at once: all acknowledged in time, all answered, edits within the rate`, async () => {
    fake = await FakeDiscord.start();
    h = await discordHearth({ fake, discord: { editIntervalMs: INTERVAL }, adapter: { rest }, chatStepMs: 5, imageStepMs: 5 });
    const bytes = new Uint8Array(await sharp({ create: { width: 16, height: 16, channels: 3, background: '#804020' } }).png().toBuffer());
    const photo = fake.upload('photo.png', bytes, 'image/png');

    const asks: Array<{ it: FakeInteraction; expected: string }> = [];
    const images: FakeInteraction[] = [];
    const captions: FakeInteraction[] = [];
    for (let u = 0; u < USERS; u++) {
      const user = fake.user(`user${u}`);
      const prompt = `question ${u} from a busy channel`;
      asks.push({ it: fake.slash('ask', { prompt }, { user }), expected: `echo: ${prompt} ` });
      images.push(fake.slash('imagine', { prompt: `picture ${u}`, size: '256x256', steps: 4 }, { user }));
      captions.push(fake.slash('caption', { image: photo }, { user }));
    }
    const everything = [...asks.map((a) => a.it), ...images, ...captions];

    const pending = () => [
      ...asks.filter((a) => finishedAnswer(fake, a.it) !== a.expected).map((a) => a.it),
      ...images.filter((it) => !fake.original(it)?.attachments.some((a) => a.filename.startsWith('hearth-') && a.content_type === 'image/png')),
      ...captions.filter((it) => !fake.original(it)?.content.includes('a simulated caption')),
    ];
    try {
      await fake.waitFor(() => pending().length === 0, 'every job answered', 40_000);
    } catch (e) {
      const left = pending().map((it) => `${it.name}: ${JSON.stringify(fake.original(it)?.history.slice(-3))} acks=${it.callbacks.length}`);
      throw new Error(`${(e as Error).message}; ${left.length} unanswered: ${left.slice(0, 8).join(' | ')}; jobs: ${JSON.stringify(h.app.store.listJobs({ states: ['queued', 'running'] }).map((j) => [j.kind, j.state]))}; reported: ${JSON.stringify(h.reported.slice(0, 5))}; errors: ${fake.state.errors.slice(0, 5).join(', ')}`);
    }

    // Acknowledged (deferred) within 3 s, once each.
    for (const it of everything) {
      expect(it.callbacks).toHaveLength(1);
      expect(it.callbacks[0]!.type).toBe(5);
      expect(it.callbacks[0]!.at - it.dispatchedAt).toBeLessThan(3000);
    }
    // One reply per interaction, none deleted; the image carries its own prompt (nothing crossed over).
    images.forEach((it, u) => expect(fake.original(it)!.content).toContain(`picture ${u}`));
    for (const it of everything) expect(fake.original(it)!.deleted).toBe(false);
    // Edits per message within the configured rate.
    const messages = everything.map((it) => fake.original(it)!);
    for (const m of messages) for (const g of editGaps(m)) expect(g).toBeGreaterThanOrEqual(INTERVAL - 2);
    // Queue positions were shown while jobs waited.
    expect(messages.some((m) => m.history.some((c) => /in line — starts in/.test(c)))).toBe(true);
    expect(h.app.store.listJobs({ states: ['queued', 'running', 'failed'] })).toEqual([]);
    expect(h.reported).toEqual([]);
    expect(fake.state.errors).toEqual([]);
    if (process.env.DEBUG_LOAD) {
      const acks = everything.map((it) => it.callbacks[0]!.at - it.dispatchedAt);
      const edits = messages.map((m) => m.edits.length);
      console.log({ maxAck: Math.max(...acks), meanAck: acks.reduce((a, b) => a + b) / acks.length, maxEdits: Math.max(...edits), totalEdits: edits.reduce((a, b) => a + b), minGap: Math.min(...messages.flatMap(editGaps)) });
    }
  });
});
