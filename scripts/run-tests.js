#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.spec.js) with Node's built-in test
// runner. `npm test` compiles first (pretest). Pass file-name fragments to run a subset:
//   npm test -- identity catalogs
// and TEST_EXCLUDE=qemu,deployment to leave files out (the macOS workflow has no QEMU,
// nginx or Chromium from Debian).
'use strict';
const { readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith('.spec.js')) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const excluded = (process.env.TEST_EXCLUDE ?? '').split(',').filter(Boolean);
const files = collect(join(__dirname, '..', 'dist', 'test'))
  .filter((f) => filters.length === 0 || filters.some((frag) => f.includes(frag)))
  .filter((f) => !excluded.some((frag) => f.includes(frag)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// Test files run in parallel processes (one per core); each uses its own data directory.
const result = spawnSync(
  process.execPath,
  // A test that hangs fails after 5 minutes instead of running CI out of time.
  ['--test', '--test-reporter=spec', '--test-timeout=300000', `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`, ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
