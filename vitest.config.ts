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
    // The CLI's V8 code cache goes to the user's cache dir (src/burner/code-cache.ts): tests that run
    // the bundle leave nothing in root's home (test/burner/code-cache.test.ts turns it on in temp dirs).
    env: { METIS_CODE_CACHE: 'off' },
  },
});
