#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.spec.js) with Node's built-in test
// runner. `npm test` compiles first (pretest). Pass file-name fragments to run a subset:
//   npm test -- identity catalogs
// and TEST_EXCLUDE=qemu,deployment to leave files out on purpose (the macOS workflow has no
// QEMU, nginx or Chromium from Debian). A fragment leaves out the files whose path holds it,
// and the groups whose name holds it (TEST_EXCLUDE=swift: the Swift library's chroot run).
//
// Groups of tests that need system packages (scripts/test-requirements.js) are checked
// first: a group whose packages are missing is named at the start with what it lacks, left
// out, and the run fails at the end — a missing package is never a silent pass.
// `npm run test:all` installs them (scripts/install-test-deps.js) before testing.
'use strict';
const { readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');
const { check, toolEnvironment } = require('./test-requirements');

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
const inGroup = (group) => (file) => group.files.some((frag) => file.includes(frag));
const namedInExclude = (group) => excluded.some((frag) => group.name.toLowerCase().includes(frag.toLowerCase()));
const allGroups = check();
// A command group left out by name takes only its command along: its files run as usual.
const leftOutFiles = allGroups.filter((group) => namedInExclude(group) && !group.command);
const groups = allGroups.filter((group) => !namedInExclude(group));
const selected = collect(join(__dirname, '..', 'dist', 'test'))
  .filter((f) => filters.length === 0 || filters.some((frag) => f.includes(frag)))
  .filter((f) => !excluded.some((frag) => f.includes(frag)))
  .filter((f) => !leftOutFiles.some((group) => inGroup(group)(f)))
  .sort();

const unmet = [];
for (const group of groups) {
  if (!selected.some(inGroup(group))) continue;
  if (!group.applies) {
    console.log(`# not on ${process.platform}: ${group.name} tests (${(group.command ?? group.files).join(group.command ? ' ' : ', ')})`);
  } else if (group.missing.length) {
    unmet.push(group);
    console.error(`# CANNOT RUN: ${group.name} tests — missing ${group.missing.map((need) => need.what).join('; ')}`);
  }
}
if (unmet.length) console.error('# `npm run test:all` installs what is missing (needs root or sudo); this run will fail.');
const cannotRun = groups.filter((group) => !group.command && (!group.applies || group.missing.length));
const files = selected.filter((f) => !cannotRun.some((group) => inGroup(group)(f)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// Commands first, so that the main run's summary closes the output.
const failedCommands = groups
  .filter((group) => group.command && group.applies && !group.missing.length && selected.some(inGroup(group)))
  .filter((group) => {
    console.log(`# ${group.name}: node ${group.command.join(' ')}`);
    const run = spawnSync(process.execPath, group.command, { stdio: 'inherit', cwd: join(__dirname, '..') });
    return run.status !== 0;
  });
// One PostgreSQL server for the whole run when its tests are selected (each test makes its own
// databases on it): the one VELOCITY_TEST_POSTGRES_URL names, or a private one started here.
const postgresSupport = () => require('../dist/test/support/postgres');
const postgres =
  !process.env.VELOCITY_TEST_POSTGRES_URL && groups.some((group) => group.postgres && files.some(inGroup(group)))
    ? postgresSupport().startPostgresServer()
    : undefined;
if (postgres) {
  postgresSupport().stopAtExit(postgres);
  console.log(`# PostgreSQL for this run: ${postgres.url}`);
}
// Test files run in parallel processes (one per core); each uses its own data directory.
const result = spawnSync(
  process.execPath,
  // A test that hangs fails after 5 minutes instead of running CI out of time.
  ['--test', '--test-reporter=spec', '--test-timeout=300000', `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`, ...files],
  { stdio: 'inherit', env: { ...process.env, ...toolEnvironment(), ...(postgres && { VELOCITY_TEST_POSTGRES_URL: postgres.url }) } },
);
if (unmet.length) {
  console.error(`# FAILED: ${unmet.map((group) => group.name).join(', ')} tests could not run (see the start of this output)`);
  process.exit(1);
}
if (failedCommands.length) {
  console.error(`# FAILED: ${failedCommands.map((group) => group.name).join(', ')} (see its output above)`);
  process.exit(1);
}
process.exit(result.status ?? 1);
