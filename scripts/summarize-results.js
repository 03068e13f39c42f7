#!/usr/bin/env node
/*
 * Reads the runners' own result files (jest --json, Playwright's JSON
 * reporter) in the results directory and prints one line per suite and the
 * plain total line CI reads:
 *   N passed, N failed, N skipped
 *
 * scripts/test.sh leaves beside them:
 *   expected.txt   the suites it started, one a line: a suite with no results
 *                  counts as 1 failed, with the reason from <suite>.reason
 *                  (written by the suite's script) or "wrote no results"
 *   missing.txt    what the machine lacks, one a line (shown with the failures)
 *   skipped.txt    what was skipped on purpose and why, one a line (1 skipped each)
 *
 * A jest test skipped on purpose says why in its title, ending "(skipped: why)";
 * such titles are printed too (jest already counts them as skipped).
 *   lint.json      {"lint": "clean" | "failed"} (a failure counts as 1 failed)
 *
 * Exits 1 when anything failed or nothing ran.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const dir = process.argv[2];
const read = file => {
  const full = path.join(dir, file);
  return fs.existsSync(full) ? fs.readFileSync(full, 'utf8') : undefined;
};
const lines = file =>
  (read(file) ?? '')
    .split('\n')
    .map(l => l.trim())
    .filter(Boolean);

/** Counts of one suite from its runner's JSON, or why there are none. */
function countsOf(suite) {
  const raw = read(`${suite}.json`);
  if (raw === undefined) {
    const reason =
      (read(`${suite}.reason`) ?? '').trim() ||
      'the runner wrote no results (it crashed or never started; see its output above)';
    return { passed: 0, failed: 1, skipped: 0, reason };
  }
  let data;
  try {
    data = JSON.parse(raw);
  } catch (error) {
    return {
      passed: 0,
      failed: 1,
      skipped: 0,
      reason: `unreadable results (${error.message})`,
    };
  }
  if (suite === 'lint') {
    return data.lint === 'clean'
      ? { passed: 0, failed: 0, skipped: 0, note: 'clean' }
      : {
          passed: 0,
          failed: 1,
          skipped: 0,
          reason: 'lint problems (see above)',
        };
  }
  if (suite.startsWith('jest-')) {
    const broken = data.numRuntimeErrorTestSuites ?? 0;
    return {
      passed: data.numPassedTests,
      failed: data.numFailedTests + broken,
      skipped: data.numPendingTests + (data.numTodoTests ?? 0),
      reason:
        broken > 0
          ? `${broken} test file(s) could not run: ${data.testResults
              .filter(
                r => r.status === 'failed' && r.assertionResults.length === 0,
              )
              .map(r => path.relative(process.cwd(), r.name))
              .join(', ')}`
          : undefined,
    };
  }
  const stats = data.stats ?? {};
  const errors = Array.isArray(data.errors) ? data.errors : [];
  return {
    passed: (stats.expected ?? 0) + (stats.flaky ?? 0),
    failed: (stats.unexpected ?? 0) + errors.length,
    skipped: stats.skipped ?? 0,
    reason:
      errors.length > 0
        ? errors.map(e => (e.message ?? String(e)).split('\n')[0]).join('; ')
        : undefined,
  };
}

let suites = lines('expected.txt');
if (suites.length === 0) {
  // Called on a directory of results alone: take what is there.
  suites = fs
    .readdirSync(dir)
    .filter(f => f.endsWith('.json'))
    .map(f => f.replace(/\.json$/, ''));
}

const total = { passed: 0, failed: 0, skipped: 0 };
for (const suite of suites) {
  const c = countsOf(suite);
  total.passed += c.passed;
  total.failed += c.failed;
  total.skipped += c.skipped;
  const counts =
    suite === 'lint' && !c.reason
      ? c.note
      : `${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`;
  console.log(`${suite}: ${counts}${c.reason ? ` (${c.reason})` : ''}`);
}
// A jest test skipped for a reason carries it in its title, "... (skipped: why)":
// show it (it is counted already, with the suite's skipped tests).
for (const suite of suites.filter(s => s.startsWith('jest-'))) {
  let data;
  try {
    data = JSON.parse(read(`${suite}.json`) ?? '{}');
  } catch {
    continue;
  }
  for (const file of data.testResults ?? []) {
    for (const test of file.assertionResults ?? []) {
      if (test.status === 'pending' && /\(skipped: .+\)$/.test(test.title)) {
        console.log(`skipped: ${test.title}`);
      }
    }
  }
}
for (const line of lines('skipped.txt')) {
  total.skipped += 1;
  console.log(`skipped: ${line}`);
}
for (const line of lines('missing.txt')) {
  console.log(`missing: ${line}`);
}

const line = `${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`;
console.log(line);
fs.writeFileSync(path.join(dir, '..', 'test-summary.txt'), `${line}\n`);
const nothingRan = total.passed + total.failed === 0;
if (nothingRan) console.log('nothing ran');
process.exit(total.failed > 0 || nothingRan ? 1 : 0);
