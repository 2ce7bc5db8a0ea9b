/**
 * How soon 150 commands at once are acknowledged on Discord (50 people × /ask, /imagine, /caption),
 * with the GPU held shut so no GPU work can be behind any acknowledgement: the timing figure that
 * test/integration/discord-load.test.ts leaves to a benchmark. Reported as a ratio of Discord's 3 s
 * deadline (max, p95, p50), with discord.js's default 50 requests/s and with it lifted.
 *
 *   npx tsx bench/acks.ts
 */
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { FakeDiscord, type FakeInteraction } from '../test/fakes/discord/fake-discord.js';
import { discordHearth } from '../test/fakes/discord/harness.js';

const USERS = 50;
const DEADLINE_MS = 3000;

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

async function once(rest: { globalRequestsPerSecond?: number }): Promise<number[]> {
  // The fake's deadline out of the way: this measures, it does not drop.
  const fake = await FakeDiscord.start({ ackDeadlineMs: 600_000 });
  const h = await discordHearth({ fake, adapter: { rest } });
  const gpu = h.gate.hold(() => true);
  try {
    const bytes = new Uint8Array(await sharp({ create: { width: 16, height: 16, channels: 3, background: '#804020' } }).png().toBuffer());
    const photo = fake.upload('photo.png', bytes, 'image/png');
    const all: FakeInteraction[] = [];
    for (let u = 0; u < USERS; u++) {
      const user = fake.user(`user${u}`);
      all.push(fake.slash('ask', { prompt: `question ${u}` }, { user }));
      all.push(fake.slash('imagine', { prompt: `picture ${u}`, size: '256x256', steps: 4 }, { user }));
      all.push(fake.slash('caption', { image: photo }, { user }));
    }
    await fake.waitFor(() => all.every((it) => it.callbacks.length > 0), 'every acknowledgement', 600_000);
    return all.map((it) => it.callbacks[0]!.at - it.dispatchedAt).sort((a, b) => a - b);
  } finally {
    gpu.release();
    await h.stop();
    await fake.close();
  }
}

export async function runAckBench(): Promise<string> {
  const rows = ['| discord.js REST limit | acks | max / 3 s | p95 / 3 s | p50 / 3 s |', '|---|---|---|---|---|'];
  for (const [name, rest] of [
    ['default (50 requests/s)', {}],
    ['lifted', { globalRequestsPerSecond: 10_000 }],
  ] as const) {
    const ms = await once(rest);
    const r = (v: number) => (v / DEADLINE_MS).toFixed(2);
    rows.push(`| ${name} | ${ms.length} | ${r(ms.at(-1) ?? NaN)} | ${r(quantile(ms, 0.95))} | ${r(quantile(ms, 0.5))} |`);
  }
  return rows.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(await runAckBench());
