#!/usr/bin/env node
// The `vz` Swift library (native-bridge/swift) built and run on Linux, where there is no
// Virtualization.framework: it compiles against the stand-in module in
// native-bridge/swift/Sources/VirtualizationStandIn (a test double, not a hypervisor), and the
// native-driver conformance suite — the one that runs against the C `sim` library — loads the
// result through koffi. See "The Swift library on Linux" in README.md.
//
//   npm run swift:linux            set up the chroot when missing, build, run the suite
//   npm run swift:linux -- build   set up the chroot when missing and build only
//
// Debian 12 has no Swift; Debian 13 (trixie) packages `swiftlang` 6.0.3. So the toolchain
// lives in a trixie chroot made with debootstrap from the mirror this machine's apt already
// uses, kept outside the repository and reused (VELOCITY_SWIFT_CHROOT, default
// ~/.cache/velocity/swift-chroot). Every command in it runs in a private mount namespace
// (unshare), so /proc, /dev and the repository bind mounts vanish with the command, even
// when it is killed. Needs root (debootstrap, mount, chroot).
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { homedir } = require('node:os');
const { dirname, join, relative } = require('node:path');

const repo = join(__dirname, '..');
const suite = 'trixie';
/** What the chroot holds besides minbase: the toolchain, the C headers it links against, Node. */
const packages = ['swiftlang', 'libc6-dev', 'nodejs'];
/** Bump when `packages` or the set-up changes, so an older chroot is made anew. */
const chrootVersion = '1';
const chroot = process.env.VELOCITY_SWIFT_CHROOT || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'velocity', 'swift-chroot');
const readyMarker = join(chroot, '.velocity-swift-chroot');
/** The library as built on Linux; the conformance suite loads it from here (VELOCITY_TEST_VZ_LINUX_LIBRARY). */
const libraryOut = join(repo, 'native-bridge', 'build', 'linux', 'libvelocity_vz.so');

function fail(message) {
  console.error(`swift-linux: ${message}`);
  process.exit(1);
}

function run(command, args, options = {}) {
  console.log(`$ ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.error) fail(`${command}: ${result.error.message}`);
  if (result.status !== 0) fail(`"${command} ${args.join(' ')}" failed (${result.signal ?? `exit ${result.status}`})`);
}

/**
 * The Debian mirror this machine's apt uses (the first `deb` source that is not the security
 * archive), from /etc/apt/sources.list and sources.list.d: debootstrap takes trixie from it.
 */
function debianMirror() {
  const files = ['/etc/apt/sources.list'];
  const dir = '/etc/apt/sources.list.d';
  if (existsSync(dir)) files.push(...readdirSync(dir).filter((n) => /\.(list|sources)$/.test(n)).map((n) => join(dir, n)));
  const uris = [];
  for (const file of files.filter(existsSync)) {
    const text = readFileSync(file, 'utf8');
    for (const line of text.split('\n')) {
      const oneLine = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)/.exec(line);
      if (oneLine) uris.push(oneLine[1]);
      const deb822 = /^URIs:\s*(.+)$/i.exec(line);
      if (deb822) uris.push(...deb822[1].trim().split(/\s+/));
    }
  }
  return uris.find((uri) => /\/debian\/?$/.test(uri));
}

/** argv for running `command` inside the chroot with /proc, /dev and the repository mounted. */
function inChroot(command, { mountRepo = false } = {}) {
  const mounts = [`mount -t proc proc ${q(join(chroot, 'proc'))}`, `mount --rbind /dev ${q(join(chroot, 'dev'))}`];
  if (mountRepo) {
    // The repository at the same path inside, and node_modules too where it is a link out of it.
    const binds = [repo];
    const modules = realpathSync(join(repo, 'node_modules'));
    if (relative(repo, modules).startsWith('..')) binds.push(modules);
    for (const path of binds) {
      mounts.push(`mkdir -p ${q(join(chroot, path))}`, `mount --bind ${q(path)} ${q(join(chroot, path))}`);
    }
  }
  // swiftc dies with SIGILL when /proc is missing; the mounts are private to this namespace.
  const script = `set -e; ${mounts.join('; ')}; exec chroot ${q(chroot)} /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 ${command}`;
  return ['unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script]];
}

function q(word) {
  return `'${String(word).replace(/'/g, `'\\''`)}'`;
}

function ensureChroot() {
  if (existsSync(readyMarker) && readFileSync(readyMarker, 'utf8').trim() === chrootVersion) {
    console.log(`swift-linux: reusing the Debian ${suite} chroot at ${chroot}`);
    return;
  }
  if (process.getuid?.() !== 0) fail('setting up the chroot needs root (debootstrap, mount, chroot)');
  const mirror = debianMirror();
  if (!mirror) fail('no Debian mirror found in /etc/apt/sources.list*: debootstrap needs one to fetch trixie from');
  const started = Date.now();
  rmSync(chroot, { recursive: true, force: true });
  mkdirSync(dirname(chroot), { recursive: true });
  // minbase: apt and dpkg, nothing else; the toolchain comes next with apt itself.
  run('nice', ['-n', '10', 'debootstrap', '--variant=minbase', suite, chroot, mirror]);
  const [cmd, args] = inChroot(
    `sh -c ${q(`apt-get update && DEBIAN_FRONTEND=noninteractive nice -n 10 apt-get install -y --no-install-recommends ${packages.join(' ')} && apt-get clean`)}`,
  );
  run(cmd, args);
  writeFileSync(readyMarker, `${chrootVersion}\n`);
  console.log(`swift-linux: the ${suite} chroot is ready at ${chroot} (${Math.round((Date.now() - started) / 1000)} s)`);
}

/** `swift build` of the package in the chroot; the library lands at `libraryOut`. */
function build() {
  const pkg = join(repo, 'native-bridge', 'swift');
  const scratch = join(dirname(libraryOut), 'swift-build');
  const started = Date.now();
  const swiftBuild = `nice -n 10 swift build -c release --package-path ${q(pkg)} --scratch-path ${q(scratch)}`;
  const [cmd, args] = inChroot(`sh -c ${q(`${swiftBuild} && cp "$(${swiftBuild} --show-bin-path)/libVelocityVZ.so" ${q(libraryOut)}`)}`, {
    mountRepo: true,
  });
  run(cmd, args);
  console.log(`swift-linux: built ${libraryOut} (${Math.round((Date.now() - started) / 1000)} s)`);
}

/** The native-driver conformance suite in the chroot, against the sim and the Swift library. */
function test() {
  const spec = join(repo, 'dist', 'test', 'hypervisor', 'native-driver.spec.js');
  if (!existsSync(spec)) fail(`${spec} is missing: compile the tests first (npx tsc -p tsconfig.json)`);
  const [cmd, args] = inChroot(
    `VELOCITY_TEST_VZ_LINUX_LIBRARY=${q(libraryOut)} node --test --test-reporter=spec ${q(spec)}`,
    { mountRepo: true },
  );
  run(cmd, args);
}

module.exports = { chroot, libraryOut, ensureChroot };

if (require.main === module) {
  if (process.platform !== 'linux') fail('this builds the Swift library on Linux; on macOS `npm install` builds it against the real framework');
  const step = process.argv[2] ?? 'test';
  if (!['build', 'test'].includes(step)) fail(`unknown step "${step}": build or test`);
  ensureChroot();
  mkdirSync(dirname(libraryOut), { recursive: true });
  build();
  if (step === 'test') test();
}
