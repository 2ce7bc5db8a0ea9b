import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaptionRunner } from '../../src/runners/caption/caption-runner.js';
import { pullCaptionModel } from '../../src/runners/caption/pull.js';
import type { Json } from '../../src/engine/types.js';
import { writeTinyVitGpt2 } from '../fixtures/tiny-captioner.js';
import { pngImage } from '../fixtures/caption/images.js';

const root = mkdtempSync(join(tmpdir(), 'hearth-caption-pull-'));
let server: Server;
let endpoint: string;
const requests: Array<{ url: string; range: string | undefined }> = [];
/** Files whose first response is cut off half-way (then served whole, or from the Range asked). */
const cutOnce = new Set<string>(['onnx/decoder_model_merged.onnx']);

beforeAll(async () => {
  const src = join(root, 'hub');
  await writeTinyVitGpt2(src);
  // Served the way the Hugging Face endpoint serves files: /<owner>/<repo>/resolve/main/<file>.
  server = createServer((req, res) => {
    const m = /^\/tiny\/captioner\/resolve\/main\/(.+)$/.exec(req.url ?? '');
    const range = req.headers.range;
    requests.push({ url: req.url ?? '', range });
    const file = m ? join(src, m[1]!) : '';
    if (!m || !existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    const body = readFileSync(file);
    const start = range ? Number(/bytes=(\d+)-/.exec(range)?.[1] ?? 0) : 0;
    const part = body.subarray(start);
    res.writeHead(range ? 206 : 200, { 'content-length': part.length, 'content-type': 'application/octet-stream' });
    if (cutOnce.delete(m[1]!)) {
      // Half the bytes, a pause (so the client has the headers and a body under way), then the cut.
      res.write(part.subarray(0, Math.floor(part.length / 2)));
      setTimeout(() => res.destroy(), 100);
      return;
    }
    res.end(part);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.close();
  rmSync(root, { recursive: true, force: true });
});

describe('hearth models pull (caption model)', () => {
  it('downloads a model folder, resumes a cut-off file with a Range request, and the runner loads it', async () => {
    const dir = join(root, 'pulled');
    await expect(pullCaptionModel({ source: 'hf:tiny/captioner', dir, endpoint })).rejects.toThrow(/decoder_model_merged|terminated|aborted|closed/i);
    // The cut file is kept as .part, and the next pull continues it.
    const part = join(dir, 'onnx', 'decoder_model_merged.onnx.part');
    expect(existsSync(part)).toBe(true);
    const partial = statSync(part).size;
    const progress: number[] = [];
    const again = await pullCaptionModel({ source: 'hf:tiny/captioner', dir, endpoint, onProgress: (p) => progress.push(p.downloadedBytes) });
    expect(again.files).toContain('onnx/decoder_model_merged.onnx');
    expect(again.files).not.toContain('config.json'); // already there
    const resumed = requests.filter((r) => r.url.endsWith('decoder_model_merged.onnx') && r.range);
    expect(resumed).toHaveLength(1);
    expect(resumed[0]!.range).toBe(`bytes=${partial}-`);
    expect(readFileSync(join(dir, 'onnx', 'decoder_model_merged.onnx'))).toEqual(readFileSync(join(root, 'hub', 'onnx', 'decoder_model_merged.onnx')));
    expect(progress.length).toBeGreaterThan(0);

    const runner = new CaptionRunner({ model: 'caption', dir, providers: ['cpu'], maxNewTokens: 4, detailedMaxNewTokens: 8, cacheDir: join(root, 'cache'), threads: 1 } as unknown as Json, {
      log: () => {},
    });
    try {
      await runner.load();
      await runner.begin({ id: 'j', kind: 'caption', model: 'caption', userId: 'u', payload: { imageBase64: (await pngImage()).toString('base64') } });
      const [out] = await runner.step(['j'], { emit: () => {} });
      expect(typeof out?.done?.text).toBe('string');
    } finally {
      await runner.dispose();
    }
  });

  it('names the file and the status when the endpoint does not have the model', async () => {
    await expect(pullCaptionModel({ source: 'hf:nobody/nothing', dir: join(root, 'none'), endpoint })).rejects.toThrow(/config\.json failed: HTTP 404/);
  });

  it('refuses a source that is not an hf: id', async () => {
    await expect(pullCaptionModel({ source: 'https://x/y', dir: join(root, 'x'), endpoint })).rejects.toThrow(/hf:owner\/repo/);
  });
});
