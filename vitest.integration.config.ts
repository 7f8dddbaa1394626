import path from 'node:path';
import { defineConfig } from 'vitest/config';

/** Integration tests against the real labs (scripts/lab); run serially, one lab at a time. */
export default defineConfig({
  resolve: { alias: { '@': path.resolve(__dirname) } },
  test: {
    environment: 'node',
    include: ['tests/integration/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    pool: 'forks',
  },
});
