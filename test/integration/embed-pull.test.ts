/**
 * `hearth models pull` for the embedding model: the feature-extraction folder's files from a Hugging
 * Face compatible hub (the fake one, serving the tiny embedder), resumed after a cut, then loaded by
 * the embedding runner through transformers.js.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { embedVectorsOf } from '../../src/jobs/embed.js';
import { EmbedRunner } from '../../src/runners/embed/embed-runner.js';
import { DEFAULT_EMBEDDING_SOURCE, pullEmbeddingModel } from '../../src/runners/embed/pull.js';
import { FakeModelHub } from '../fakes/model-hub.js';
import { writeTinyEmbedder } from '../fixtures/tiny-embedder.js';

const hub = new FakeModelHub();
let root = '';

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hearth-embed-pull-'));
  await writeTinyEmbedder(join(root, 'hub'));
  await hub.addFolder('Xenova/all-MiniLM-L6-v2', join(root, 'hub'));
  await hub.start();
});
afterAll(async () => {
  await hub.stop();
  await rm(root, { recursive: true, force: true });
});

test('the default embedding model is pulled file by file, resumed after a cut, and loads', async () => {
  expect(DEFAULT_EMBEDDING_SOURCE).toBe('hf:Xenova/all-MiniLM-L6-v2');
  const dir = join(root, 'models', 'all-MiniLM-L6-v2');
  hub.cutOnce.add('Xenova/all-MiniLM-L6-v2/onnx/model.onnx');
  await expect(pullEmbeddingModel({ source: DEFAULT_EMBEDDING_SOURCE, dir, endpoint: hub.endpoint })).rejects.toThrow();
  const part = join(dir, 'onnx', 'model.onnx.part');
  expect(existsSync(part)).toBe(true);
  // How many bytes reached the disk before the cut is timing's; the pull goes on from those.
  const kept = statSync(part).size;
  const { files } = await pullEmbeddingModel({ source: DEFAULT_EMBEDDING_SOURCE, dir, endpoint: hub.endpoint });
  expect(files).toEqual(['onnx/model.onnx']);
  const ranged = hub.requests.filter((r) => r.path.endsWith('/onnx/model.onnx') && r.range !== undefined).map((r) => r.range);
  expect(ranged).toEqual(kept > 0 ? [`bytes=${kept}-`] : []);

  const runner = new EmbedRunner({ model: 'embedding', dir, providers: ['cpu'], cacheDir: join(root, 'cache'), threads: 1 }, { log: () => undefined });
  try {
    await runner.load();
    await runner.begin({ id: 'j', kind: 'embed', model: 'embedding', userId: 'u', payload: { texts: ['wifi password'] } });
    const [out] = await runner.step(['j'], { emit: () => undefined });
    expect(embedVectorsOf({ kind: 'embed' }, out?.done)?.vectors[0]).toHaveLength(16);
  } finally {
    await runner.dispose();
  }
});
