// Adds up test results from Vitest and Playwright JSON reports and from plain step results.
// Usage: node count-results.mjs <results-dir>   (prints "N passed, N failed[, N skipped]")
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
let passed = 0;
let failed = 0;
let skipped = 0;
const lines = [];
const failures = [];

// The names of the failed tests, so that the end of a long log says which ones failed.
function vitestFailures(r) {
  for (const file of r.testResults ?? []) {
    const name = path.relative(process.cwd(), file.name ?? '');
    const failedTests = (file.assertionResults ?? []).filter((t) => t.status === 'failed');
    for (const t of failedTests) failures.push(`${name} › ${t.fullName ?? t.title}`);
    if (file.status === 'failed' && failedTests.length === 0) {
      failures.push(`${name}: ${(file.message ?? 'failed to run').split('\n')[0]}`);
    }
  }
}
function playwrightFailures(suite, trail = []) {
  const here = suite.title ? [...trail, suite.title] : trail;
  for (const spec of suite.specs ?? []) {
    for (const t of spec.tests ?? []) {
      if (t.status === 'unexpected' || t.status === 'flaky') {
        const err = t.results?.at(-1)?.error?.message?.split('\n')[0] ?? '';
        failures.push(`${[...here, spec.title].join(' › ')} (${t.status})${err ? `: ${err}` : ''}`);
      }
    }
  }
  for (const s of suite.suites ?? []) playwrightFailures(s, here);
}
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
      vitestFailures(r);
    } else if (f.startsWith('playwright-')) {
      const r = JSON.parse(fs.readFileSync(file, 'utf8'));
      p = r.stats.expected;
      x = r.stats.unexpected + r.stats.flaky + (r.errors?.length ? 1 : 0);
      s = r.stats.skipped;
      for (const suite of r.suites ?? []) playwrightFailures(suite);
      for (const e of r.errors ?? []) failures.push(`${f}: ${(e.message ?? '').split('\n')[0]}`);
    } else if (f.startsWith('step-')) {
      const ok = fs.readFileSync(file, 'utf8').trim() === '0';
      p = ok ? 1 : 0;
      x = ok ? 0 : 1;
      if (!ok) failures.push(`step ${f.replace(/^step-|\.rc$/g, '')}`);
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
if (failures.length) {
  console.log('  failed:');
  const plain = (l) => l.replace(/\u001b\[[0-9;]*m/g, '');
  console.log(failures.map((l) => '    ' + plain(l).slice(0, 300)).join('\n'));
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed ? 1 : 0);
