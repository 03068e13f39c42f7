#!/usr/bin/env node
/*
 * Reads the runners' own result files (jest --json, Playwright's JSON
 * reporter) and prints one line per suite and the plain total line CI reads:
 *   N passed, N failed, N skipped
 * Exits 1 when a runner wrote no results (it crashed) or something failed.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const dir = process.argv[2];
let passed = 0;
let failed = 0;
let skipped = 0;
let broken = false;

for (const file of fs.readdirSync(dir).sort()) {
  const full = path.join(dir, file);
  let data;
  try {
    data = JSON.parse(fs.readFileSync(full, 'utf8'));
  } catch (error) {
    console.log(`${file}: unreadable results (${error.message})`);
    broken = true;
    continue;
  }
  let p;
  let f;
  let s;
  if (file.startsWith('jest-')) {
    p = data.numPassedTests;
    f = data.numFailedTests + (data.numRuntimeErrorTestSuites ?? 0);
    s = data.numPendingTests + (data.numTodoTests ?? 0);
  } else {
    const stats = data.stats ?? {};
    p = (stats.expected ?? 0) + (stats.flaky ?? 0);
    f = stats.unexpected ?? 0;
    s = stats.skipped ?? 0;
    if (Array.isArray(data.errors) && data.errors.length > 0)
      f += data.errors.length;
  }
  console.log(
    `${file.replace(/\.json$/, '')}: ${p} passed, ${f} failed, ${s} skipped`,
  );
  passed += p;
  failed += f;
  skipped += s;
}
if (passed + failed === 0) broken = true;
const line = `${passed} passed, ${failed} failed, ${skipped} skipped`;
console.log(line);
fs.writeFileSync(path.join(dir, '..', 'test-summary.txt'), `${line}\n`);
process.exit(failed > 0 || broken ? 1 : 0);
