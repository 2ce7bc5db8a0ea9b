/**
 * Fault injection (issue 13): rounds of kill -9 at moments a seeded PRNG picks, of the main process
 * (a whole hearth with the Discord adapter, test/fixtures/app-host.ts) and of its GPU worker, over
 * mixed jobs (chat, image, caption) from several people on a fake Discord. After each round and at
 * the end it checks the invariant:
 *
 * - every job is answered exactly once (one final answer shown, nothing stale left), or failed with a
 *   message its owner sees;
 * - none lost: every command that was acknowledged as queued has its job, and every job ends;
 * - none charged twice, and the usage ledger equals the work done (test/helpers/ledger.ts defines it
 *   from the store's usage table, its job records and the worker's step log).
 *
 * It prints the figures (rounds, kills of each kind, jobs, answered, failed, lost, double-charged).
 * HEARTH_FAULT_SEED and HEARTH_FAULT_ROUNDS change the seed and the number of rounds.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import type { AppHostSpec } from '../fixtures/app-host.js';
import { seededRandom } from '../fixtures/seeded-random.js';
import { AppHost, alive, parentOf, readDb, readStepLog, startOf, until, workerPid } from '../helpers/app-host-process.js';
import { discordDriver, type Handle, type PlatformDriver } from '../helpers/kill-drivers.js';
import { checkLedger, type LedgerReport } from '../helpers/ledger.js';

const SEED = Number(process.env.HEARTH_FAULT_SEED ?? 20_251_013);
const ROUNDS = Number(process.env.HEARTH_FAULT_ROUNDS ?? 12);
const PEOPLE = ['ann', 'ben', 'cat', 'dov'];
const WORDS = ['ember', 'kettle', 'lantern', 'quilt', 'cedar', 'pine', 'frost', 'hearth', 'smoke', 'copper', 'moss', 'river'];

const work = mkdtempSync(join(tmpdir(), 'hearth-faults-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Asked {
  handle: Handle;
  /** What the owner must finally see: the answer's text, or an image. */
  answer: string | 'image';
}

const figures = { seed: SEED, rounds: 0, mainKills: 0, workerKills: 0, jobs: 0, answered: 0, failed: 0, lost: 0, doubleCharged: 0, underCharged: 0, stepsRun: 0, usageRows: 0 };

describe('fault injection: kill -9 of hearth and of its GPU worker at random moments', () => {
  let driver: PlatformDriver | undefined;
  let host: AppHost | undefined;

  afterAll(async () => {
    if (host && host.child.exitCode === null && host.child.signalCode === null) await host.kill();
    await driver?.close();
  });

  it(`${ROUNDS} rounds (seed ${SEED}): every job answered once or failed in words, none lost, none charged twice`, { timeout: 240_000 }, async () => {
    const rand = seededRandom(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const d = (driver = await discordDriver());
    const dir = join(work, 'discord');
    mkdirSync(join(dir, 'gate'), { recursive: true });
    const stepLog = join(dir, 'steps.jsonl');
    const spec: AppHostSpec = {
      platform: 'discord',
      dataDir: join(dir, 'data'),
      config: { ...d.config(), files: { allowedHosts: ['127.0.0.1'] }, limits: { maxQueuedPerUser: 100 } },
      settings: {
        sim: {
          models: [
            { model: 'chat', kind: 'chat', stepMs: 4, maxBatch: 4 },
            { model: 'image', kind: 'image', stepMs: 6 },
            { model: 'caption', kind: 'caption', stepMs: 6 },
          ],
        },
        fault: { stepLog, gateDir: join(dir, 'gate') },
      },
      logFile: join(dir, 'hearth.log'),
    };
    const db = join(spec.dataDir, 'hearth.db');
    const photo = new Uint8Array(await sharp({ create: { width: 24, height: 24, channels: 3, background: '#a05020' } }).png().toBuffer());
    const asked: Asked[] = [];
    const reported: string[] = [];

    const jobCount = () => readDb(db, (x) => x.prepare<[], number>('SELECT count(*) FROM jobs').pluck().get() ?? 0);
    const settled = () =>
      readDb(db, (x) => x.prepare<[], number>("SELECT count(*) FROM jobs WHERE finished_at IS NULL OR (delivered_at IS NULL AND delivery_abandoned_at IS NULL)").pluck().get() ?? 0) === 0;
    const ensureHost = async (): Promise<AppHost> => {
      if (host && host.child.exitCode === null && host.child.signalCode === null) return host;
      if (host) reported.push(...host.reported.map((r) => `${r.reported}: ${r.message}`));
      host = await AppHost.start(spec);
      return host;
    };
    const killMain = async (h: AppHost): Promise<void> => {
      const pid = workerPid(stepLog);
      // The worker as a process (pid and start time), so a reused pid is not taken for it.
      const worker = pid !== undefined && parentOf(pid) === h.child.pid ? { pid, started: startOf(pid) } : undefined;
      await h.kill();
      figures.mainKills++;
      if (worker) await until(() => !alive(worker.pid) || startOf(worker.pid) !== worker.started, 'the orphaned GPU worker to exit');
    };
    const killWorker = (h: AppHost): void => {
      const pid = workerPid(stepLog);
      // Only hearth's own GPU worker, a child of the running host: pids wrap around quickly on a busy
      // machine (32768 here), and the last worker's pid may belong to another process by now.
      if (pid && h.child.pid !== undefined && alive(pid) && parentOf(pid) === h.child.pid) {
        process.kill(pid, 'SIGKILL');
        figures.workerKills++;
      }
    };
    /** Waits until `k` more job events have been printed, or nothing is left to run. */
    const moment = async (h: AppHost, k: number): Promise<void> => {
      const target = h.events().length + k;
      await h.until(() => h.events().length >= target || (jobCount() === asked.length && settled()), `event ${target} or the end of the work`, 60_000);
    };
    const check = (when: string): LedgerReport => {
      const r = checkLedger(db, stepLog);
      expect(r.problems, `ledger ${when}`).toEqual([]);
      // None lost: every command acknowledged as queued has its job.
      expect(r.jobs.length, `jobs ${when}`).toBe(asked.length);
      return r;
    };

    for (let round = 1; round <= ROUNDS; round++) {
      const h = await ensureHost();
      // A few commands from several people.
      const batch = 2 + Math.floor(rand() * 4);
      for (let i = 0; i < batch; i++) {
        const who = pick(PEOPLE);
        const kind = rand();
        if (kind < 0.45) {
          const question = Array.from({ length: 2 + Math.floor(rand() * 14) }, () => pick(WORDS)).join(' ');
          asked.push({ handle: d.ask(who, question), answer: `echo: ${question} ` });
        } else if (kind < 0.8) {
          asked.push({ handle: d.imagine(who, `${pick(WORDS)} by ${pick(WORDS)} light`, 2 + Math.floor(rand() * 12)), answer: 'image' });
        } else {
          asked.push({ handle: d.caption(who, photo), answer: 'a simulated caption' });
        }
      }
      // Stored and acknowledged before any kill (a kill before the owner is told queued is another promise).
      await h.until(() => jobCount() === asked.length, `round ${round}: all ${asked.length} jobs stored`);
      await d.until(() => asked.every((a) => d.acknowledged(a.handle)), `round ${round}: every command acknowledged`);

      const plan = rand();
      if (plan < 0.35 || plan >= 0.75) {
        // The GPU worker, once or twice at random moments (and in some rounds the main process after it).
        const times = rand() < 0.5 ? 2 : 1;
        for (let w = 0; w < times; w++) {
          await moment(h, 1 + Math.floor(rand() * 40));
          killWorker(h);
        }
      }
      if (plan >= 0.35) {
        await moment(h, 1 + Math.floor(rand() * 40));
        await killMain(h);
        check(`after round ${round} (hearth killed)`);
      } else {
        await h.until(settled, `round ${round}: every job ended and delivered`, 60_000);
        check(`after round ${round}`);
      }
      figures.rounds++;
      process.stderr.write(`fault round ${round}: ${plan < 0.35 ? 'worker' : plan < 0.75 ? 'main' : 'worker+main'} ${JSON.stringify(figures)}\n`);
    }

    // The last start: everything left runs, and every end reaches its owner.
    const last = await ensureHost();
    await last.until(settled, 'every job ended and delivered', 90_000);
    const answeredOnce = (a: Asked) => (a.answer === 'image' ? d.finalImages(a.handle) === 1 : (d.finalAnswer(a.handle) ?? '').includes(a.answer));
    const unshown = () => asked.filter((a) => !answeredOnce(a) && d.failureShown(a.handle) === null);
    await d.until(() => unshown().length === 0, 'every answer or failure shown', 30_000).catch((e: unknown) => {
      const rows = checkLedger(db, stepLog).jobs;
      const detail = unshown().map((a) => `${a.handle.kind} ${a.handle.id} ${JSON.stringify(rows.find((j) => (j.origin ?? '').includes(a.handle.id)))}: ${d.describe(a.handle)}`);
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n${detail.join('\n')}`);
    });
    await last.stop();
    reported.push(...last.reported.map((r) => `${r.reported}: ${r.message}`));

    const final = check('at the end');
    const byOrigin = (a: Asked) => final.jobs.find((j) => (j.origin ?? '').includes(a.handle.id));
    for (const a of asked) {
      const job = byOrigin(a);
      expect(job, `the job of ${a.handle.kind} ${a.handle.id}`).toBeDefined();
      if (job!.state === 'done') {
        expect(answeredOnce(a), `${a.handle.kind} ${a.handle.id} answered once`).toBe(true);
        expect(d.failureShown(a.handle), `${a.handle.kind} ${a.handle.id} shows no failure`).toBeNull();
        figures.answered++;
      } else {
        expect(job!.state, `${a.handle.kind} ${a.handle.id}`).toBe('failed');
        // Only a job that took the worker down twice may fail here, and its owner is told so.
        expect(JSON.parse(job!.error ?? '{}')).toMatchObject({ code: 'WORKER_CRASHED' });
        expect(d.failureShown(a.handle)).toContain('stopped the GPU worker twice');
        figures.failed++;
      }
      expect(job!.delivered_at, `${a.handle.kind} ${a.handle.id} delivered`).not.toBeNull();
    }
    expect(d.leftovers(asked.map((a) => a.handle))).toEqual([]);
    expect(reported).toEqual([]);
    expect(d.platformErrors()).toEqual([]);
    d.assertNoSecretsIn(spec.logFile);

    figures.jobs = final.jobs.length;
    figures.lost = asked.length - final.jobs.length + final.jobs.filter((j) => j.state !== 'done' && j.state !== 'failed').length;
    figures.doubleCharged = final.doubleCharged;
    figures.underCharged = final.underCharged;
    figures.usageRows = final.usageRows;
    figures.stepsRun = readStepLog(stepLog).filter((l) => l.ev === 'step').length;
    process.stdout.write(`FAULT-INJECTION FIGURES ${JSON.stringify(figures)}\n`);
    expect(figures.lost).toBe(0);
    expect(figures.doubleCharged).toBe(0);
    expect(figures.answered + figures.failed).toBe(asked.length);
    // The rounds really injected faults of both kinds.
    expect(figures.mainKills).toBeGreaterThan(0);
    expect(figures.workerKills).toBeGreaterThan(0);
  });
});
