/**
 * README, "How sharing works" → Durable: "a job whose step took the GPU worker down twice fails and its
 * owner is told"; DESIGN, Durability: "a job that has taken the worker down twice fails, and its owner is
 * told".
 *
 * Through each face, driven from the outside by the conformance drivers (Discord against the fake
 * Discord, Slack in Socket Mode and in HTTP mode against the fake Slack, the web console's API): a
 * question whose chat takes the simulated GPU worker down at its third step, on the first attempt and
 * again on the retry (test/helpers/sim-faults.ts throws WORKER_CRASHED through the in-process executor).
 * The job must end failed after two crashes, and the person must see, where they asked, that it failed
 * because it stopped the GPU worker twice, in plain words.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorText } from '../../src/commands/wording.js';
import type { PlatformDriver } from '../conformance/driver.js';
import { DiscordDriver } from '../conformance/drivers/discord.js';
import { SlackDriver } from '../conformance/drivers/slack.js';
import { WebDriver } from '../conformance/drivers/web.js';
import { SETUP } from '../conformance/suite.js';
import { textOf, waitFor, waitUntil } from '../conformance/support.js';

/** What the crash policy says of such a job (src/engine/crash-policy.ts), as every face words it. */
const TOLD = errorText({
  code: 'WORKER_CRASHED',
  message: 'this job stopped the GPU worker twice, so it was not tried again',
  facts: { crashes: 2 },
});

const faces: Array<[string, () => Promise<PlatformDriver>]> = [
  ['Discord', () => DiscordDriver.start(SETUP)],
  ['Slack, Socket Mode', () => SlackDriver.start(SETUP, 'socket')],
  ['Slack, HTTP mode', () => SlackDriver.start(SETUP, 'http')],
  ['web console', () => WebDriver.start(SETUP)],
];

for (const [face, make] of faces) {
  describe(`${face}: a job that takes the GPU worker down twice`, () => {
    let d: PlatformDriver;
    beforeAll(async () => {
      d = await make();
    });
    afterAll(async () => {
      d?.faults.clear();
      await d?.close();
    });

    it('fails, and its owner is told in plain words where they asked', async () => {
      const u = await d.user('poison');
      // Step 3 of the first attempt, then step 3 of the retry.
      d.faults.crashChat(3);
      d.faults.crashChat(3);
      const asked = await d.startAsk(u, 'this question takes the worker down every time');
      await waitUntil('the job to end', () => {
        const s = d.app.engine.getJob(asked.jobId)?.state;
        return s === 'done' || s === 'failed' || s === 'cancelled';
      });
      const job = d.app.engine.getJob(asked.jobId)!;
      // Begun twice, the worker down both times. (The record's `crashes` counts the crashes it was
      // requeued after, so it says 1; the error's facts count both.)
      expect([job.state, job.attempts, job.error?.code]).toEqual(['failed', 2, 'WORKER_CRASHED']);
      expect(job.error?.facts).toMatchObject({ crashes: 2 });
      const shown = await waitFor(
        'the owner told that the job failed',
        async () => {
          const s = await d.shows(asked);
          return s.some((x) => x.includes(TOLD)) ? s : undefined;
        },
        { last: async () => textOf(await d.shows(asked)) },
      );
      // Told once, and not left looking as if it were still running.
      expect(shown.filter((x) => x.includes(TOLD))).toHaveLength(1);
      expect(shown.join('\n')).not.toMatch(/\n\s+at\s|Error:/);
      expect(d.reported()).toEqual([]);
    });

    it('a crash once is retried and answered: the failure above is the second crash’s doing', async () => {
      const u = await d.user('once');
      d.faults.crashChat(3);
      const asked = await d.startAsk(u, 'this one crashes only once');
      const a = await d.answer(asked);
      expect(a.text.trim()).toBe('echo: this one crashes only once');
      const job = d.app.engine.getJob(asked.jobId)!;
      expect([job.state, job.crashes]).toEqual(['done', 1]);
      expect((await d.shows(asked)).some((x) => x.includes(TOLD))).toBe(false);
    });
  });
}
