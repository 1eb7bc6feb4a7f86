// What the test suite needs from the system, in one table: the installer
// (scripts/install-test-deps.js) installs what is missing, and the runner
// (scripts/run-tests.js) says at the start which groups cannot run and why.
// A later system dependency (btrfs-progs, postgresql, …) gets a row here and nowhere else.
'use strict';
const { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } = require('node:fs');
const { delimiter, join } = require('node:path');

const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';

/** The first executable named `name` on PATH. */
function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      if (statSync(path).isFile()) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

function firstExisting(paths) {
  return paths.find((p) => existsSync(p));
}

function readable(path) {
  try {
    accessSync(path, constants.R_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The newest Debian PostgreSQL's programs directory (/usr/lib/postgresql/<version>/bin). */
function postgresBin() {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const bins = readdirSync(root)
    .sort((a, b) => Number(a) - Number(b))
    .map((version) => join(root, version, 'bin'))
    .filter((bin) => existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres')));
  return bins[bins.length - 1];
}

/** Newest readable /boot/vmlinu[xz]-* (the KBOOT test boots the host's own kernel). */
function hostKernel() {
  if (!existsSync('/boot')) return undefined;
  const kernels = readdirSync('/boot')
    .filter((n) => /^vmlinu[xz]-/.test(n))
    .map((n) => join('/boot', n))
    .filter(readable)
    .sort();
  return kernels[kernels.length - 1];
}

/** A statically linked busybox (an initramfs has no shared libraries). */
function staticBusybox() {
  const path = '/bin/busybox';
  if (!existsSync(path)) return undefined;
  const elf = readFileSync(path);
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const size = elf.readUInt16LE(0x36);
  for (let i = 0; i < elf.readUInt16LE(0x38); i++) {
    if (elf.readUInt32LE(phoff + i * size) === 3 /* PT_INTERP: dynamically linked */) return undefined;
  }
  return path;
}

/**
 * Each need: how to find it (a path, or undefined), the packages that bring it — Debian and
 * Ubuntu names, the first one apt knows is taken — and `env`, the variable through which the
 * runner tells the tests where it is.
 */
const needs = {
  compiler: {
    what: 'a C compiler, make and python3 (the simulator library; sqlite3 when it builds from source)',
    find: () => onPath('make') && onPath('python3') && onPath(process.env.CC || 'cc'),
    apt: [['build-essential'], ['python3']],
    macos: 'xcode-select --install',
  },
  qemu: {
    what: `qemu-system-${arch === 'arm64' ? 'aarch64' : 'x86_64'}`,
    find: () => onPath(`qemu-system-${arch === 'arm64' ? 'aarch64' : 'x86_64'}`),
    apt: [[arch === 'arm64' ? 'qemu-system-arm' : 'qemu-system-x86'], ['qemu-utils']],
  },
  firmware: {
    what: 'UEFI firmware for QEMU (OVMF / AAVMF)',
    find: () =>
      firstExisting(
        arch === 'arm64'
          ? ['/usr/share/AAVMF/AAVMF_CODE.fd', '/usr/share/qemu-efi-aarch64/QEMU_EFI.fd']
          : ['/usr/share/OVMF/OVMF_CODE_4M.fd', '/usr/share/OVMF/OVMF_CODE.fd'],
      ),
    apt: [[arch === 'arm64' ? 'qemu-efi-aarch64' : 'ovmf']],
  },
  kernel: {
    what: 'a readable Linux kernel in /boot with its modules (the KBOOT guest)',
    find: hostKernel,
    apt: [[`linux-image-${arch}`, 'linux-image-generic']],
  },
  busybox: {
    what: 'a statically linked /bin/busybox (the KBOOT guest initramfs)',
    find: staticBusybox,
    apt: [['busybox-static']],
  },
  guestAgent: {
    what: 'the QEMU guest agent (qemu-ga, copied with its libraries into a KBOOT guest)',
    find: () => onPath('qemu-ga') ?? firstExisting(['/usr/sbin/qemu-ga', '/usr/bin/qemu-ga']),
    apt: [['qemu-guest-agent']],
  },
  nginx: {
    what: 'nginx (the reverse-proxy checks)',
    find: () => onPath('nginx') ?? firstExisting(['/usr/sbin/nginx', '/opt/homebrew/bin/nginx', '/usr/local/bin/nginx']),
    apt: [['nginx-light', 'nginx']],
    brew: ['nginx'],
    env: 'VELOCITY_TEST_NGINX',
  },
  btrfs: {
    what: 'btrfs-progs (mkfs.btrfs and btrfs: a loop-mounted btrfs for copy-on-write clones)',
    find: () => onPath('btrfs') && (onPath('mkfs.btrfs') ?? firstExisting(['/sbin/mkfs.btrfs', '/usr/sbin/mkfs.btrfs'])),
    apt: [['btrfs-progs']],
    env: 'VELOCITY_TEST_MKFS_BTRFS',
  },
  debootstrap: {
    what: 'debootstrap (a Debian trixie chroot with Swift 6.0 for the Swift library on Linux)',
    find: () => onPath('debootstrap') ?? firstExisting(['/usr/sbin/debootstrap']),
    apt: [['debootstrap']],
  },
  postgresql: {
    what: 'PostgreSQL (initdb and postgres in /usr/lib/postgresql/*/bin), or a server named by VELOCITY_TEST_POSTGRES_URL',
    find: () => process.env.VELOCITY_TEST_POSTGRES_URL || postgresBin(),
    apt: [['postgresql']],
  },
  root: {
    what: 'root (to mount the filesystems the clone tests run on; no package brings it)',
    find: () => (process.getuid?.() === 0 ? 'root' : undefined),
  },
  chromium: {
    what: 'Chromium (Swagger UI and noVNC driven in a headless browser)',
    find: () =>
      firstExisting([
        '/usr/bin/chromium',
        '/usr/bin/chromium-browser',
        '/snap/bin/chromium',
        '/Applications/Chromium.app/Contents/MacOS/Chromium',
        '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
      ]),
    apt: [['chromium', 'chromium-browser']],
    brewCask: ['chromium'],
    env: 'VELOCITY_TEST_CHROMIUM',
  },
};

/**
 * Groups of test files and what they need. `files` are fragments of the compiled test paths
 * (as TEST_EXCLUDE takes them); `platforms` (and `arches`) list where the group applies at all
 * (the qemu driver is Linux's; on macOS the vz binding tests take its place). A group with a
 * `command` (a script and its arguments, run with node before the test files) is selected
 * with its `files` but leaves them in the main run. A group marked `postgres` gets a
 * PostgreSQL server for the run (VELOCITY_TEST_POSTGRES_URL).
 */
const groups = [
  {
    name: 'qemu driver',
    files: ['hypervisor/qemu-command', 'hypervisor/qemu-driver', 'hypervisor/qemu-kboot', 'vms/qemu-api', 'vms/events/qemu-events'],
    platforms: ['linux'],
    needs: ['qemu', 'firmware', 'kernel', 'busybox'],
  },
  {
    name: 'reaching a qemu guest (port forwards, guest agent addresses)',
    files: ['vms/qemu-guest-network'],
    platforms: ['linux'],
    needs: ['qemu', 'firmware', 'kernel', 'busybox', 'guestAgent'],
  },
  { name: 'deployment (nginx: Swagger UI in Chromium, the CLI through the proxy)', files: ['deployment/'], needs: ['nginx', 'chromium'] },
  // Also in the PostgreSQL group (cluster/): it needs both.
  { name: 'cluster behind nginx', files: ['cluster/cluster-behind-proxy'], needs: ['nginx'] },
  {
    name: 'remote screen of a QEMU EFI VM in noVNC (Chromium)',
    files: ['vms/qemu-remote-screen'],
    platforms: ['linux'],
    needs: ['qemu', 'firmware', 'chromium'],
  },
  {
    name: 'storage clones on mounted filesystems (btrfs copy-on-write, a full tmpfs)',
    files: ['resources/storage-clone-filesystems'],
    platforms: ['linux'],
    needs: ['btrfs', 'root'],
  },
  // Not files of the main run but a command run before it: the native-driver conformance suite
  // inside a Debian trixie chroot (made on first use, ~4 min, then reused), against the sim and
  // the Swift vz library built there against VirtualizationStandIn (scripts/swift-linux.js).
  // Selected with the native-driver tests. x64 only: the library's arm64 paths (macOS guests,
  // Rosetta) have no stand-in.
  {
    name: 'Swift library on Linux (vz against the Virtualization stand-in)',
    files: ['hypervisor/native-driver'],
    command: ['scripts/swift-linux.js', 'test'],
    platforms: ['linux'],
    arches: ['x64'],
    needs: ['debootstrap', 'root'],
  },
  // The runner starts one server for the run (scripts/run-tests.js); each test file takes
  // fresh databases from it (test/support/postgres.ts).
  { name: 'PostgreSQL', files: ['database/migrations-postgres', 'cluster/'], needs: ['postgresql'], postgres: true },
  // Needs nothing but a filesystem without copy-on-write for its temporary directory, which
  // macOS does not have (APFS always clones).
  { name: 'sparse storage clones', files: ['resources/storage-clone-sparse'], platforms: ['linux'], needs: [] },
];

/** What `npm ci` itself needs before any test runs. */
const installNeeds = ['compiler'];

/**
 * Every group with what it lacks on this machine: `applies` false where the platform has no
 * use for it; `missing` lists the needs not found.
 */
function check() {
  const found = {};
  for (const [key, need] of Object.entries(needs)) found[key] = need.find();
  return groups.map((group) => ({
    ...group,
    applies:
      (!group.platforms || group.platforms.includes(process.platform)) && (!group.arches || group.arches.includes(process.arch)),
    missing: group.needs.filter((key) => !found[key]).map((key) => ({ key, ...needs[key] })),
  }));
}

/** The variables that tell the tests where their tools are. */
function toolEnvironment() {
  const env = {};
  for (const need of Object.values(needs)) {
    const path = need.env && need.find();
    if (path) env[need.env] = path;
  }
  return env;
}

module.exports = { needs, installNeeds, check, toolEnvironment };
