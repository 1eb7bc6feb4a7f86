#!/usr/bin/env node
// Installs the system packages the tests need (scripts/test-requirements.js) when they are
// missing: apt-get on Debian/Ubuntu (as root, or through sudo),
// Homebrew on macOS. Where nothing can be installed it says what to install and leaves the
// verdict to the test runner, which names the groups that cannot run and fails.
// Runs before `npm ci`, so it uses nothing but Node itself.
'use strict';
const { spawnSync } = require('node:child_process');
const { check, installNeeds, needs } = require('./test-requirements');

function run(command, args, env = {}) {
  console.log(`$ ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  if (result.status !== 0) {
    console.error(`install-test-deps: "${command} ${args.join(' ')}" failed (${result.error?.message ?? `exit ${result.status}`})`);
    process.exit(1);
  }
}

function succeeds(command, args) {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

/** The first of `names` that apt can install (Debian and Ubuntu name some packages differently). */
function aptCandidate(names) {
  for (const name of names) {
    const policy = spawnSync('apt-cache', ['policy', name], { encoding: 'utf8' }).stdout ?? '';
    const candidate = /Candidate: (\S+)/.exec(policy)?.[1];
    if (candidate && candidate !== '(none)') return name;
  }
  return names[0]; // let apt-get say why it cannot
}

function installWithApt(missing) {
  // sudo may ask for a password only where someone can type it.
  const canSudo = succeeds('sudo', ['-n', 'true']) || (process.stdin.isTTY && succeeds('sudo', ['--version']));
  const sudo = process.getuid?.() === 0 ? [] : canSudo ? ['sudo'] : undefined;
  const alternatives = missing.flatMap((need) => need.apt ?? []);
  if (alternatives.length === 0) return; // what is missing (root) is no package
  if (!sudo) {
    const names = alternatives.map((names) => names[0]);
    console.warn(`install-test-deps: not root and no sudo; install these first: apt-get install ${names.join(' ')}`);
    return;
  }
  const as = (command, args) => (sudo.length ? ['sudo', [command, ...args]] : [command, args]);
  run(...as('apt-get', ['update']));
  const packages = [...new Set(alternatives.map(aptCandidate))];
  run(...as('env', ['DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '--no-install-recommends', ...packages]));
}

function installWithBrew(missing) {
  for (const need of missing.filter((n) => n.macos)) console.warn(`install-test-deps: ${need.what} is missing: ${need.macos}`);
  const formulae = missing.flatMap((need) => need.brew ?? []);
  const casks = missing.flatMap((need) => need.brewCask ?? []);
  if (formulae.length) run('brew', ['install', ...formulae]);
  if (casks.length) run('brew', ['install', '--cask', ...casks]);
}

const missingForInstall = installNeeds.filter((key) => !needs[key].find()).map((key) => ({ key, ...needs[key] }));
const missingForGroups = check().filter((group) => group.applies).flatMap((group) => group.missing);
const missing = [...new Map([...missingForInstall, ...missingForGroups].map((need) => [need.key, need])).values()];
if (missing.length === 0) {
  console.log('install-test-deps: every system package the tests need is present');
  process.exit(0);
}
console.log(`install-test-deps: missing ${missing.map((need) => need.what).join('; ')}`);
if (process.platform === 'linux' && succeeds('apt-get', ['--version'])) installWithApt(missing);
else if (process.platform === 'darwin' && succeeds('brew', ['--version'])) installWithBrew(missing);
else console.warn('install-test-deps: no apt-get or Homebrew here; install the packages above with your package manager');
