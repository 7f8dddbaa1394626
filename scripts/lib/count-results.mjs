// Adds up test results from Vitest and Playwright JSON reports and from plain step results.
// Usage: node count-results.mjs <results-dir>   (prints "N passed, N failed[, N skipped]")
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
let passed = 0;
let failed = 0;
let skipped = 0;
const lines = [];
for (const f of fs.readdirSync(dir).sort()) {
  const file = path.join(dir, f);
  let p = 0,
    x = 0,
    s = 0;
  try {
    if (f.startsWith('vitest-')) {
      const r = JSON.parse(fs.readFileSync(file, 'utf8'));
      p = r.numPassedTests;
      x =
        r.numFailedTests +
        (r.numRuntimeErrorTestSuites ?? 0) +
        (r.success === false && r.numFailedTests === 0 ? 1 : 0);
      s = r.numPendingTests + r.numTodoTests;
    } else if (f.startsWith('playwright-')) {
      const r = JSON.parse(fs.readFileSync(file, 'utf8'));
      p = r.stats.expected;
      x = r.stats.unexpected + r.stats.flaky + (r.errors?.length ? 1 : 0);
      s = r.stats.skipped;
    } else if (f.startsWith('step-')) {
      const ok = fs.readFileSync(file, 'utf8').trim() === '0';
      p = ok ? 1 : 0;
      x = ok ? 0 : 1;
    } else continue;
  } catch (e) {
    x = 1;
    lines.push(`${f}: unreadable report (${e.message})`);
  }
  lines.push(`${f.replace(/\.(json|rc)$/, '')}: ${p} passed, ${x} failed${s ? `, ${s} skipped` : ''}`);
  passed += p;
  failed += x;
  skipped += s;
}
console.log(lines.map((l) => '  ' + l).join('\n'));
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed ? 1 : 0);
