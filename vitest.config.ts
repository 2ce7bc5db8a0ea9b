import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native addons (better-sqlite3, node-llama-cpp, onnxruntime-node) break under vmThreads.
    pool: 'forks',
    // Finds (or installs, as root with apt) the Chromium the browser tests drive and the redis-server the cluster tests start.
    globalSetup: ['test/setup/browser.ts', 'test/setup/redis.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
