import path from 'node:path';
import { defineConfig } from 'vitest/config';

/** HTTP tests against production servers on the demo sites (`next build` first; no lab). Serial: each starts servers. */
export default defineConfig({
  resolve: { alias: { '@': path.resolve(__dirname) } },
  test: {
    environment: 'node',
    include: ['tests/http/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    pool: 'forks',
  },
});
