/**
 * Two promises through the Discord bot, the real discord.js client against the fake Discord
 * (test/fakes/discord) with hearth's simulated GPU:
 *
 * - README, Command line: "`/imagine prompt [negative] …`": the negative prompt reaches the job's payload
 *   (what the image runner is given) and is shown with the picture.
 * - README, How sharing works / DESIGN, Durability: "Every command becomes a job in one queue, stored in
 *   SQLite before its owner is told it is queued." The fake Discord's request handler is wrapped: when
 *   the first message-carrying request for an interaction arrives (an edit of the deferred reply, or a
 *   follow-up), before the fake handles it, the test opens hearth's database read-only on a second
 *   connection and looks for the job. The interaction's own acknowledgement must be a bare deferral
 *   (type 5: "thinking…", no words), so nothing said "queued" before that point.
 */
import Database from 'better-sqlite3';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDiscord, type FakeInteraction, type FakeMessage } from '../fakes/discord/fake-discord.js';
import { discordHearth, type DiscordHearth } from '../fakes/discord/harness.js';

/** What the wrapped handler saw at the first message-carrying request of each interaction. */
interface FirstWords {
  request: string;
  /** Jobs of the interaction's user, by kind, readable on a second connection at that moment. */
  stored: Array<{ kind: string; payload: string }>;
  /** The acknowledgements the interaction had received by then (callback types). */
  callbacks: number[];
}

let fake: FakeDiscord;
let h: DiscordHearth;
const firstWords = new Map<string, FirstWords>();

/** Jobs of `userId` in hearth's database, read through a connection of the test's own. */
function storedJobs(dbPath: string, userId: string): FirstWords['stored'] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare<[string], { kind: string; payload: string }>('SELECT kind, payload FROM jobs WHERE user_id = ?').all(userId);
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  fake = await FakeDiscord.start();
  const handle = fake.state.handle.bind(fake.state);
  let dbPath = '';
  fake.state.handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://fake').pathname);
    const webhook = /^\/api\/v10\/webhooks\/\d+\/([^/]+)(?:\/messages\/([^/]+))?$/.exec(path);
    const carriesWords = webhook && (req.method === 'POST' || (req.method === 'PATCH' && webhook[2] === '@original'));
    const it = webhook ? fake.state.byToken.get(webhook[1]!) : undefined;
    if (carriesWords && it && dbPath && !firstWords.has(it.id)) {
      firstWords.set(it.id, {
        request: `${req.method} ${webhook[2] ?? 'follow-up'}`,
        stored: storedJobs(dbPath, `discord:${it.userId}`),
        callbacks: it.callbacks.map((c) => c.type),
      });
    }
    return handle(req, res);
  };
  h = await discordHearth({ fake, chatStepMs: 5, imageStepMs: 5 });
  dbPath = join(h.dataDir, 'hearth.db');
});

afterAll(async () => {
  await h?.stop();
  await fake?.close();
});

const settled = (it: FakeInteraction, test: (m: FakeMessage) => boolean, what: string): Promise<FakeMessage> =>
  fake.waitFor(() => {
    const m = fake.original(it);
    return m && !m.deleted && test(m) ? m : null;
  }, what);

describe('Discord /imagine negative', () => {
  it('reaches the job’s payload and is shown with the picture', async () => {
    const user = fake.user('neg');
    const it = fake.slash('imagine', { prompt: 'a quiet cabin in the woods', negative: 'snow, people, text', size: '256x256', steps: 3, seed: 11 }, { user });
    const m = await settled(it, (x) => x.attachments.some((a) => a.content_type === 'image/png'), 'the picture');
    const [job] = h.app.store.listJobs({ userId: `discord:${user.id}` });
    expect(job?.kind).toBe('image');
    expect(job?.payload).toMatchObject({ prompt: 'a quiet cabin in the woods', negativePrompt: 'snow, people, text', width: 256, height: 256, steps: 3, seed: 11 });
    expect(m.content).toContain('negative: snow, people, text');
  });

  it('without one, the payload carries none and nothing is shown', async () => {
    const user = fake.user('noneg');
    const it = fake.slash('imagine', { prompt: 'a quiet cabin in the woods', size: '256x256', steps: 2, seed: 12 }, { user });
    const m = await settled(it, (x) => x.attachments.some((a) => a.content_type === 'image/png'), 'the picture');
    const [job] = h.app.store.listJobs({ userId: `discord:${user.id}` });
    expect((job?.payload as { negativePrompt?: string }).negativePrompt ?? '').toBe('');
    expect(m.content).not.toContain('negative:');
  });
});

describe('a job is stored before its owner is told it is queued', () => {
  it('for every /ask and /imagine sent at once, the job is readable in SQLite when the first words about it are sent', async () => {
    const sent: Array<{ it: FakeInteraction; kind: 'chat' | 'image' }> = [];
    for (let i = 0; i < 6; i++) {
      const user = fake.user(`order${i}`);
      sent.push(
        i % 2 === 0
          ? { it: fake.slash('ask', { prompt: `question number ${i}` }, { user }), kind: 'chat' }
          : { it: fake.slash('imagine', { prompt: `picture number ${i}`, size: '256x256', steps: 2 }, { user }), kind: 'image' },
      );
    }
    for (const { it } of sent) await fake.waitFor(() => firstWords.get(it.id) ?? null, `the first words about /${it.name}`);
    for (const { it, kind } of sent) {
      const seen = firstWords.get(it.id);
      expect(seen, `no message-carrying request for /${it.name}`).toBeDefined();
      // Nothing but a wordless deferral before it.
      expect(seen!.callbacks).toEqual([5]);
      expect(seen!.stored.map((j) => j.kind)).toEqual([kind]);
    }
  });
});
