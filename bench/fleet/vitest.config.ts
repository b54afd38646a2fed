import { defineConfig } from 'vitest/config';

// bench/fleet runs under vitest only to reuse the test harnesses (sshd namespaces, sysroots); it is
// not part of `npm test` (whose config includes test/** only).
export default defineConfig({
  test: {
    include: ['bench/fleet/*.bench.ts'],
    testTimeout: 1_800_000,
    hookTimeout: 600_000,
  },
});
