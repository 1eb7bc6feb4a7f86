#!/usr/bin/env node
// Builds the native hypervisor libraries; run by `npm install` (the "install" script).
//
//   native-bridge/build/libvelocity_sim.{so,dylib}        the `sim` driver (C, every platform)
//   native-bridge/build/test/libvelocity_sim_badabi.*      the same with a wrong ABI version (tests)
//   native-bridge/build/libvelocity_vz.dylib               the `vz` driver (Swift, macOS only)
//
// Uses the system C compiler (`cc`, or $CC). Outputs newer than every source are kept,
// so a reinstall is fast. `node native-bridge/build.js --force` rebuilds everything.
'use strict';
const { spawnSync } = require('node:child_process');
const { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = __dirname;
const buildDir = join(root, 'build');
const darwin = process.platform === 'darwin';
const ext = darwin ? 'dylib' : 'so';
const force = process.argv.includes('--force');

function fail(message) {
  console.error(`velocity native build: ${message}`);
  process.exit(1);
}

/** Every file under dir (recursively) whose name passes the filter. */
function filesUnder(dir, filter) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'test' && !entry.name.startsWith('.')) out.push(...filesUnder(path, filter));
    } else if (filter(entry.name)) out.push(path);
  }
  return out;
}

function upToDate(outputs, inputs) {
  if (force) return false;
  if (!outputs.every((o) => existsSync(o))) return false;
  const oldestOutput = Math.min(...outputs.map((o) => statSync(o).mtimeMs));
  const newestInput = Math.max(...inputs.map((i) => statSync(i).mtimeMs));
  return oldestOutput > newestInput;
}

function run(command, args, what) {
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.error) {
    if (result.error.code === 'ENOENT') return 'ENOENT';
    fail(`${what}: ${result.error.message}`);
  }
  if (result.status !== 0) fail(`${what} failed (exit code ${result.status ?? result.signal})`);
  return 'ok';
}

function buildSim() {
  const cc = process.env.CC || 'cc';
  const sources = filesUnder(join(root, 'sim'), (n) => n.endsWith('.c'));
  const inputs = [
    __filename,
    ...sources,
    ...filesUnder(join(root, 'sim'), (n) => n.endsWith('.h')),
    join(root, 'include', 'velocity_hv.h'),
  ];
  const lib = join(buildDir, `libvelocity_sim.${ext}`);
  const badAbi = join(buildDir, 'test', `libvelocity_sim_badabi.${ext}`);
  if (upToDate([lib, badAbi], inputs)) {
    console.log(`velocity native build: ${lib} is up to date`);
    return;
  }
  mkdirSync(join(buildDir, 'test'), { recursive: true });
  const common = [
    '-std=c11',
    '-O2',
    '-fPIC',
    '-pthread',
    '-fvisibility=hidden',
    '-Wall',
    '-Wextra',
    '-I',
    join(root, 'include'),
    ...(darwin ? ['-dynamiclib'] : ['-shared']),
  ];
  const libs = darwin ? [] : ['-lm'];
  const targets = [
    { out: lib, defines: [] },
    { out: badAbi, defines: ['-DVHV_SIM_ABI_OVERRIDE=999'] },
  ];
  for (const { out, defines } of targets) {
    const installName = darwin ? ['-install_name', `@rpath/${out.split('/').pop()}`] : [];
    const status = run(cc, [...common, ...defines, ...installName, ...sources, '-o', out, ...libs], `compiling ${out}`);
    if (status === 'ENOENT') {
      fail(
        `no C compiler found (tried "${cc}"): install one — ` +
          (darwin ? 'xcode-select --install' : 'apt-get install build-essential (Debian/Ubuntu) or dnf install gcc') +
          ' — or set $CC',
      );
    }
  }
  console.log(`velocity native build: built ${lib}`);
}

/** The `--arch` of `swift build` for the Node running this script (koffi loads into it). */
const swiftArch = { arm64: 'arm64', x64: 'x86_64' }[process.arch];

function buildSwift() {
  const pkg = join(root, 'swift');
  if (!darwin || !existsSync(join(pkg, 'Package.swift'))) return;
  const lib = join(buildDir, 'libvelocity_vz.dylib');
  const inputs = [
    __filename,
    join(pkg, 'Package.swift'),
    ...filesUnder(join(pkg, 'Sources'), (n) => n.endsWith('.swift') || n.endsWith('.h')),
    join(root, 'include', 'velocity_hv.h'),
  ];
  if (upToDate([lib], inputs)) {
    console.log(`velocity native build: ${lib} is up to date`);
    return;
  }
  // Without a toolchain (no Xcode command line tools: /usr/bin/swift is then a stub that
  // fails) the install still succeeds: the server runs with the sim driver (or qemu).
  const probe = spawnSync('swift', ['--version'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) {
    console.warn(
      'velocity native build: no Swift toolchain, so the vz driver (Virtualization.framework) is not built; ' +
        'VELOCITY_HYPERVISOR=sim works without it. To build it: xcode-select --install, then npm rebuild',
    );
    return;
  }
  if (!swiftArch) fail(`no Swift architecture for Node's ${process.arch}`);
  const args = ['build', '-c', 'release', '--arch', swiftArch, '--package-path', pkg];
  run('swift', args, 'swift build');
  const binPath = spawnSync('swift', [...args, '--show-bin-path'], { encoding: 'utf8' }).stdout.trim();
  const product = join(binPath, 'libVelocityVZ.dylib');
  if (!existsSync(product)) fail(`swift build did not produce ${product}`);
  mkdirSync(buildDir, { recursive: true });
  copyFileSync(product, lib);
  console.log(`velocity native build: built ${lib} for ${swiftArch}`);
}

buildSim();
buildSwift();
