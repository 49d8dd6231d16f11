import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Servers started in a test log to a buffer (test/helpers/test-logs.ts), printed when a test fails.
    setupFiles: ['test/helpers/log-replay.setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
