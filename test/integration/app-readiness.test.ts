import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { EngineEvent } from '../../src/engine/types.js';
import { simApp } from '../helpers/sim-app.js';

describe('hearth while it starts', () => {
  it('accepts a job for a model the config names before the engine has started, and answers it once up', async () => {
    const { app, dataDir } = await simApp({ adapters: [], config: { models: { image: { dir: '/nowhere/sd' } } } });
    try {
      const events: EngineEvent[] = [];
      app.engine.on((e) => events.push(e));
      expect(app.engine.readiness()).toBe('starting');
      const image = app.engine.submit({ kind: 'image', model: 'image', userId: 'web:u', payload: { steps: 2 } });
      expect(image.ok).toBe(true);
      if (!image.ok) return;
      expect(events.find((e) => e.jobId === image.value.id)?.event).toEqual({ type: 'queued', position: 0, etaSeconds: 0, starting: true });
      // The config names no chat model: that one is "not set up", even while starting.
      const chat = app.engine.submit({ kind: 'chat', model: 'chat', userId: 'web:u', payload: { question: 'hi' } });
      expect(chat.ok ? null : chat.error).toMatchObject({ code: 'MODEL_MISSING', facts: { given: 'chat', allowed: ['image'] } });

      await app.start();
      await app.engine.whenIdle();
      expect(app.engine.getJob(image.value.id)?.state).toBe('done');
    } finally {
      await app.close();
      app.store.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
