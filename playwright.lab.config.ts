import { defineConfig } from '@playwright/test';
import base from './playwright.config';

const PORT = 3211;
const DATA = '/tmp/tandem-e2e-lab-data';
export const LAB_ADMIN_PASSWORD = 'e2e-lab-admin-password';

/** End-to-end tests against the real labs (scripts/lab), which must be up. */
export default defineConfig({
  ...base,
  testDir: 'e2e-lab',
  // Apart from the demo suite's test-results/, which each run of it empties.
  outputDir: 'test-results-lab',
  timeout: 300_000,
  use: { ...base.use, baseURL: `http://127.0.0.1:${PORT}` },
  webServer: {
    command: `rm -rf ${DATA} && TANDEM_DATA_DIR=${DATA} TANDEM_DEMO=0 TANDEM_SCHEDULER_INTERVAL_MS=2000 TANDEM_ADMIN_PASSWORD=${LAB_ADMIN_PASSWORD} npx next start -p ${PORT} -H 127.0.0.1`,
    url: `http://127.0.0.1:${PORT}/login`,
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: 'pipe',
  },
});
