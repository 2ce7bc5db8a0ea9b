/**
 * README, "How sharing works" → Residency: "when they don't [fit], hearth prefers work for the loaded
 * model as long as no user falls more than `models.fairnessLagSeconds` behind" — here the value as
 * written in hearth.yaml, read by the real config loader and wired by the app factory (HearthApp), as
 * `hearth start` does. test/unit/promise-residency-lag.test.ts proves the bound with a scheduler built
 * directly; this proves the config's number is the one the running hearth keeps to.
 *
 * Two models of 6 GB in an 8000 MB budget (they don't fit together), a virtual clock. A painter's
 * image is running (its model loaded) when a talker asks a question: the talker is lifted level with
 * the painter, and the painter keeps the loaded model while it is within the lag. So the GPU-seconds
 * the painter gets between the talker's question and the talker's first step are more than the lag
 * and at most the lag plus one image step. With 1 s the talker's answer is done before the painter's
 * image; with 20 s the image ends first. (Both fail if HearthApp stops passing the value: the
 * scheduler's default of 30 s is then used.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/engine/store/sqlite-store.js';
import type { JobSpec } from '../../src/engine/types.js';
import { SimGate } from '../fixtures/sim-runner.js';
import { virtualApp } from '../helpers/virtual-app.js';

const root = mkdtempSync(join(tmpdir(), 'hearth-lag-config-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const IMAGE_STEP_S = 0.5;
const MODELS = [
  { model: 'image', kind: 'image' as const, stepMs: IMAGE_STEP_S * 1000, vramBytes: 6e9, loadMs: 200 },
  { model: 'chat', kind: 'chat' as const, stepMs: 100, maxBatch: 1, vramBytes: 6e9, loadMs: 200 },
];

const image = (steps: number): JobSpec => ({ kind: 'image', model: 'image', userId: 'painter', payload: { steps }, estimatedSteps: steps });
const chat = (steps: number): JobSpec => ({ kind: 'chat', model: 'chat', userId: 'talker', payload: { steps }, estimatedSteps: steps });

interface LagSeen {
  /** GPU-seconds of image steps run after the talker asked and before the talker's first step. */
  painterAhead: number;
  /** Jobs in the order they ended. */
  ended: string[];
  imageIds: string[];
  chatId: string;
  swaps: number;
}

/** Starts a hearth whose hearth.yaml says `fairnessLagSeconds: lag`, and watches one talker wait. */
async function runWithLag(lag: number): Promise<LagSeen> {
  const dir = mkdtempSync(join(root, `lag-${lag}-`));
  const gate = new SimGate();
  const store = SqliteStore.open(':memory:');
  const { app, config, stepLog } = await virtualApp({
    dir,
    yaml: [
      'models:',
      '  vramBudgetMB: 8000',
      `  fairnessLagSeconds: ${lag}`,
      '  chat: { path: ./chat.gguf }',
      '  image: { dir: ./sd }',
      '',
    ].join('\n'),
    models: MODELS,
    store,
    gate,
  });
  expect(config.models.fairnessLagSeconds).toBe(lag);
  try {
    await app.start();
    expect(app.engine.residency.fitTogether(['image', 'chat'])).toBe(false);
    const ended: string[] = [];
    app.engine.on((e) => {
      if (e.event.type === 'result') ended.push(e.jobId);
    });
    // The painter's image is running, one step done, when the talker asks.
    const second = gate.hold((s) => s.model === 'image' && s.step === 2);
    const imageIds = [1, 2, 3, 4].map(() => {
      const r = app.engine.submit(image(20));
      if (!r.ok) throw new Error(r.error.message);
      return r.value.id;
    });
    await second.reached;
    const asked = stepLog.length;
    const r = app.engine.submit(chat(5));
    if (!r.ok) throw new Error(r.error.message);
    second.release();
    await app.engine.whenIdle();

    const after = stepLog.slice(asked);
    const firstChat = after.findIndex((s) => s.model === 'chat');
    expect(firstChat).toBeGreaterThan(0);
    const imageSteps = after.slice(0, firstChat).filter((s) => s.model === 'image').length;
    return { painterAhead: imageSteps * IMAGE_STEP_S, ended, imageIds, chatId: r.value.id, swaps: app.engine.residency.swaps };
  } finally {
    gate.releaseAll();
    await app.close();
    store.close();
  }
}

describe('models.fairnessLagSeconds from hearth.yaml reaches the scheduler', () => {
  it('with 1 s, the loaded image model is swapped for the talker after about 1 s of the painter’s steps, and the answer ends before the image', async () => {
    const seen = await runWithLag(1);
    expect(seen.painterAhead).toBeGreaterThan(1);
    expect(seen.painterAhead).toBeLessThanOrEqual(1 + IMAGE_STEP_S);
    // 5 chat steps (0.5 s) come long before the painter's first 20-step image is done.
    expect(seen.ended.indexOf(seen.chatId)).toBeLessThan(seen.ended.indexOf(seen.imageIds[0]!));
    expect(seen.swaps).toBeGreaterThan(0);
  });

  it('with 20 s, the loaded image model is kept while the talker waits, for about 20 s of the painter’s steps, and the image ends first', async () => {
    const seen = await runWithLag(20);
    expect(seen.painterAhead).toBeGreaterThan(20);
    expect(seen.painterAhead).toBeLessThanOrEqual(20 + IMAGE_STEP_S);
    // The first image (10 s) ends while the talker waits; the answer comes before the painter's last one.
    expect(seen.ended.indexOf(seen.imageIds[0]!)).toBeLessThan(seen.ended.indexOf(seen.chatId));
    expect(seen.ended.indexOf(seen.chatId)).toBeLessThan(seen.ended.indexOf(seen.imageIds[3]!));
  });
});
