import path from 'node:path';
import { defineConfig } from 'vitest/config';

/** HTTP tests against a production build (`next build` first) started on the demo sites. */
export default defineConfig({
  resolve: { alias: { '@': path.resolve(__dirname) } },
  test: {
    environment: 'node',
    include: ['tests/http/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    pool: 'forks',
  },
});
