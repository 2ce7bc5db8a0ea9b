/**
 * /imagine on real SDXL-shaped exports through every face (issue 15, "Must show"): the real image
 * runner (onnxruntime-node on the CPU, built from the config as the GPU worker builds it) on the tiny
 * SDXL and SDXL-Turbo exports of test/fixtures/tiny-sdxl.ts, behind the platform the driver drives
 * (real discord.js against the fake Discord, real Bolt against the fake Slack, the console's HTTP API).
 *
 * What each face delivers is read back as the person gets it: the PNG's size from its own header
 * (sharp), and how far a picture is from the one it started from as the mean absolute difference of
 * its 8-bit pixels. The Turbo export has no vae_encoder, so it also shows what a face does with a
 * model that cannot start from an image.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Json } from '../../src/engine/types.js';
import { SDXL_TURBO, writeTinySdxl, type TinySdxlOptions } from '../fixtures/tiny-sdxl.js';
import { pixelDistance, smoothPicture } from '../helpers/image-runners.js';
import type { ConformanceSetup, DriverUser, PlatformDriver } from './driver.js';
import { expectPlainWords, SETUP } from './suite.js';
import { jobIds } from './support.js';

/** unet/config.json `sample_size` of the tiny exports: 8 latents, a 64-pixel native size (small, so every run is fast). */
const SAMPLE_SIZE = 8;

/** The native size an export declares: its UNet's sample_size × 8 (the VAE's factor), read from its own config. */
function declaredNativeSize(dir: string): number {
  const unet = JSON.parse(readFileSync(join(dir, 'unet', 'config.json'), 'utf8')) as { sample_size: number };
  return unet.sample_size * 8;
}

async function pngSize(png: Uint8Array): Promise<[string | undefined, number | undefined, number | undefined]> {
  const meta = await sharp(png).metadata();
  return [meta.format, meta.width, meta.height];
}

function payloadOf(d: PlatformDriver, jobId: string): Record<string, Json> {
  const p = d.app.engine.getJob(jobId)?.payload;
  if (!p || typeof p !== 'object' || Array.isArray(p)) throw new Error(`job ${jobId} has no payload`);
  return p;
}

/**
 * Registers the SDXL and SDXL-Turbo checks for one face; `make` starts its driver with the setup given
 * (whose `image` names the export the real runner serves).
 */
export function imageModelSuite(label: string, make: (setup: ConformanceSetup) => Promise<PlatformDriver>): void {
  describe(`${label}: /imagine on SDXL-shaped exports, with the real image runner`, () => {
    let root = '';
    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), 'hearth-image-faces-'));
    });
    afterAll(async () => {
      if (root) await rm(root, { recursive: true, force: true });
    });

    /** Registers the describe block's hearth: the face on an export written with `opts`, closed after the block. */
    function face(name: string, opts: TinySdxlOptions): { readonly d: PlatformDriver; readonly native: number; fresh(user: string): Promise<DriverUser> } {
      let driver: PlatformDriver | undefined;
      let native = 0;
      let n = 0;
      beforeAll(async () => {
        const dir = await writeTinySdxl(join(root, name), { sampleSize: SAMPLE_SIZE, ...opts });
        native = declaredNativeSize(dir);
        // The config allows sizes down to the tiny export's native size (64, the config's smallest; a real SDXL's is 1024).
        driver = await make({ ...SETUP, image: { dir, limits: { minSize: 64, maxSize: 256 } } });
      });
      afterAll(async () => {
        await driver?.close();
      });
      const f = {
        get d(): PlatformDriver {
          if (!driver) throw new Error('the face has not started');
          return driver;
        },
        get native(): number {
          return native;
        },
        fresh: (user: string): Promise<DriverUser> => f.d.user(`${user}${++n}`),
      };
      return f;
    }

    describe('SDXL (its export has a vae_encoder)', () => {
      const f = face('sdxl', {});

      it('a plain /imagine answers with a PNG of the native size the export declares', async () => {
        expect(f.native).toBe(SAMPLE_SIZE * 8);
        const pic = await f.fresh('ann').then((u) => f.d.imagine(u, { prompt: 'a lighthouse at dusk' }));
        expect(await pngSize(pic.png)).toEqual(['png', f.native, f.native]);
        expect(f.d.app.engine.getJob(pic.jobId)?.state).toBe('done');
        expect(await f.d.offersStartImage()).toBe(true);
      });

      it('image-to-image: the picture delivered differs from the source, and more so at a higher strength', async () => {
        const u = await f.fresh('bo');
        const source = await smoothPicture(f.native, f.native);
        const at = async (strength: number): Promise<number> => {
          const pic = await f.d.imagine(u, { prompt: 'the same, at night', image: source, strength, steps: 10, seed: 7 });
          expect(await pngSize(pic.png)).toEqual(['png', f.native, f.native]);
          expect(payloadOf(f.d, pic.jobId).strength).toBe(strength);
          return pixelDistance(pic.png, source);
        };
        const near = await at(0.3);
        const far = await at(0.9);
        expect(near, `distance from the source at strength 0.3: ${near}`).toBeGreaterThan(1);
        expect(far, `distances from the source at 0.3 and 0.9: ${near}, ${far}`).toBeGreaterThan(near);
      });

      it('Vary: both variations differ from the picture, Vary (Subtle) less than Vary (Strong)', async () => {
        const u = await f.fresh('cy');
        const pic = await f.d.imagine(u, { prompt: 'a red barn', steps: 20, seed: 4321 });
        expect(await f.d.varyButtons(pic.jobId)).toEqual(['subtle', 'strong']);
        const subtle = await f.d.vary(u, pic.jobId, 'subtle');
        const strong = await f.d.vary(u, pic.jobId, 'strong');
        for (const v of [subtle, strong]) expect(await pngSize(v.png)).toEqual(['png', f.native, f.native]);
        const ds = await pixelDistance(subtle.png, pic.png);
        const dt = await pixelDistance(strong.png, pic.png);
        expect(ds, `Vary (Subtle) from the picture: ${ds}`).toBeGreaterThan(1);
        expect(dt, `Vary (Subtle) and Vary (Strong) from the picture: ${ds}, ${dt}`).toBeGreaterThan(ds);
      });

      it('reported no handler errors along the way', () => {
        expect(f.d.reported()).toEqual([]);
      });
    });

    describe('SDXL-Turbo (its export has no vae_encoder)', () => {
      const f = face('sdxl-turbo', { schedulerConfig: SDXL_TURBO, vaeEncoder: false });

      it("a plain /imagine runs with Turbo's own defaults (one step, no guidance) and answers with the native size, with no Vary buttons", async () => {
        const pic = await f.fresh('di').then((u) => f.d.imagine(u, { prompt: 'a fox in snow' }));
        expect(await pngSize(pic.png)).toEqual(['png', f.native, f.native]);
        // Its export has no vae_encoder: no Vary on the picture.
        expect(await f.d.varyButtons(pic.jobId)).toEqual([]);
        const p = payloadOf(f.d, pic.jobId);
        expect([p.steps, p.guidance, p.width, p.height]).toEqual([1, 0, f.native, f.native]);
        expect(f.d.app.engine.getJob(pic.jobId)?.state).toBe('done');
      });

      it('steps outside 1–4 and any guidance are refused in plain words saying why, and nothing is queued', async () => {
        const u = await f.fresh('ed');
        const before = jobIds(f.d.app, u.userId).length;
        const steps = await f.d.refusedImagine(u, { prompt: 'a fox', steps: 5 });
        expectPlainWords(steps, 'the Turbo steps error');
        expect(steps.text).toMatch(/\b1 to 4\b/);
        expect(steps.text).toMatch(/\b5\b/);
        expect(steps.text).toContain('SDXL-Turbo runs 1–4 steps without guidance');
        const guidance = await f.d.refusedImagine(u, { prompt: 'a fox', guidance: 2 });
        expectPlainWords(guidance, 'the Turbo guidance error');
        expect(guidance.text).toMatch(/guidance/i);
        expect(guidance.text).toMatch(/\b2\b/);
        expect(guidance.text).toContain('SDXL-Turbo runs 1–4 steps without guidance');
        expect(jobIds(f.d.app, u.userId)).toHaveLength(before);
        if (f.d.capabilities.optionBounds) expect(await f.d.declaredStepsRange()).toMatchObject({ max: 4 });
        expect(await f.d.imagineChoices()).toMatch(/\b4\b/);
      });

      it('offers no image to start from; where one can still be given, it is refused naming the missing vae_encoder', async () => {
        expect(await f.d.offersStartImage()).toBe(false);
        if (f.d.capabilities.options === 'registered') return;
        const u = await f.fresh('flo');
        const refused = await f.d.refusedImagine(u, { prompt: 'the same, as a watercolour', image: await smoothPicture(f.native, f.native), strength: 0.5 });
        expectPlainWords(refused, 'the image-to-image refusal');
        expect(refused.text).toContain('cannot start from an image');
        expect(refused.text).toContain('no vae_encoder');
        expect(jobIds(f.d.app, u.userId)).toEqual([]);
      });

      it('reported no handler errors along the way', () => {
        expect(f.d.reported()).toEqual([]);
      });
    });
  });
}
