import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Child processes (Temporal workers use native code and worker threads) behave best in forks.
    pool: 'forks',
    // Starts Temporal + Postgres and bundles workflows once per run; see the file.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
  },
});
