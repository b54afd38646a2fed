import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Loop devices, namespaces and image files are shared machine resources: one file at a time
    // keeps tests that need root from stepping on each other on a 2-core box.
    fileParallelism: false,
  },
});
