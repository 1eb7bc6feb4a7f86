import { execFileSync } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Subscription } from 'rxjs';
import { HypervisorDriver, HypervisorEvent, VmConfig } from '../../src/hypervisor/hypervisor-driver';
import { detectQemu, QemuInstallation } from '../../src/hypervisor/drivers/qemu/qemu-host';
import { ScratchDir } from '../support/scratch-dir';
import type { TestApp } from '../support/test-app';
import { eventually, sleep } from '../support/wait';

/**
 * Helpers of the qemu driver tests: the real QEMU of this host (the tests fail, not skip,
 * when it is missing: CI installs it), VM configurations, the serial console, a cpio writer
 * for initramfs images, and a process tracker so no QEMU outlives a test file.
 */

/** The installed QEMU; throws with the packages to install when there is none. */
export function requireQemu(): QemuInstallation {
  const detected = detectQemu();
  if (!detected.available) {
    throw new Error(`${detected.reason} — the qemu tests need QEMU: apt-get install qemu-system-x86 ovmf qemu-utils`);
  }
  if (!detected.installation.firmware) {
    throw new Error('no OVMF/AAVMF firmware found — the qemu tests need it: apt-get install ovmf (x86_64) or qemu-efi-aarch64');
  }
  return detected.installation;
}

/** A small VM configuration in `dir` (one vCPU, 128 MiB), with overrides. */
export function qemuConfig(dir: ScratchDir, overrides: Partial<VmConfig> = {}): VmConfig {
  const input = existsSync(dir.file('console.in')) ? dir.file('console.in') : dir.fifo('console.in');
  return {
    name: 'qemu-test',
    type: 'EFI',
    cpu_count: 1,
    memory_size_mb: 128,
    directory: dir.path,
    console: { output: dir.file('console.log'), input },
    disks: [],
    nics: [],
    displays: [],
    rosetta: false,
    ...overrides,
  };
}

/** Guest serial output with terminal escape sequences and CRs removed. */
export function consoleText(path: string): string {
  if (!existsSync(path)) return '';
  return readFileSync(path, 'latin1')
    .replace(/\x1b\[[0-9;=?]*[A-Za-z]/g, '')
    .replace(/\r/g, '');
}

/** Waits until the console output (from byte `from` on) matches `pattern`. */
export async function waitForConsole(path: string, pattern: RegExp, timeoutMs: number, from = 0): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = consoleText(path).slice(from);
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${pattern} on the console; it shows:\n${text.slice(-600)}`);
    }
    await sleep(200);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Records a driver's events and lets a test wait for one. */
export class EventLog {
  readonly events: HypervisorEvent[] = [];
  private readonly subscription: Subscription;

  constructor(driver: HypervisorDriver) {
    this.subscription = driver.events$.subscribe((e) => this.events.push(e));
  }

  states(vmId: string): string[] {
    return this.events.filter((e) => e.vmId === vmId && e.type === 'state').map((e) => (e.type === 'state' ? e.state : ''));
  }

  errors(vmId: string): string[] {
    return this.events.filter((e) => e.vmId === vmId && e.type === 'error').map((e) => (e.type === 'error' ? e.message : ''));
  }

  clear(): void {
    this.events.length = 0;
  }

  async waitFor(predicate: (e: HypervisorEvent) => boolean, what: string, timeoutMs: number): Promise<HypervisorEvent> {
    let found: HypervisorEvent | undefined;
    await eventually(() => (found = this.events.find(predicate)) !== undefined, what, timeoutMs);
    return found!;
  }

  dispose(): void {
    this.subscription.unsubscribe();
  }
}

/** Pids of QEMU processes a test file started; killed in `after`, whatever happened. */
export class ProcessTracker {
  private readonly pids = new Set<number>();

  track(pid: number | undefined): void {
    if (pid !== undefined && pid > 0) this.pids.add(pid);
  }

  killAll(): void {
    for (const pid of this.pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    this.pids.clear();
  }
}

/**
 * Closes a TestApp on the qemu driver and kills every QEMU its VMs run (they outlive the
 * server by design, so its pid files name them), then removes its data directory.
 */
export async function closeQemuApp(t: TestApp | undefined, dataDir: string | undefined, processes: ProcessTracker): Promise<void> {
  const vmsDir = dataDir && join(dataDir, 'vms');
  for (const dir of vmsDir && existsSync(vmsDir) ? readdirSync(vmsDir) : []) {
    const pidFile = join(vmsDir!, dir, 'qemu.pid');
    if (existsSync(pidFile)) processes.track(Number(readFileSync(pidFile, 'utf8').trim()));
  }
  await t?.close({ keepData: true });
  processes.killAll();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}

// ---------------------------------------------------------------- initramfs

interface CpioEntry {
  name: string;
  mode: number;
  data?: Buffer;
  rdevMajor?: number;
  rdevMinor?: number;
}

/** An uncompressed cpio archive in the "newc" format the kernel unpacks as initramfs. */
export function cpioNewc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  let ino = 1;
  for (const entry of [...entries, { name: 'TRAILER!!!', mode: 0 }]) {
    const data = entry.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${entry.name}\0`, 'utf8');
    const header = Buffer.from(
      '070701' +
        hex(entry.name === 'TRAILER!!!' ? 0 : ino++) +
        hex(entry.mode) +
        hex(0) + // uid
        hex(0) + // gid
        hex(entry.mode & 0o040000 ? 2 : 1) + // nlink
        hex(0) + // mtime
        hex(data.length) +
        hex(0) + // devmajor
        hex(0) + // devminor
        hex(entry.rdevMajor ?? 0) +
        hex(entry.rdevMinor ?? 0) +
        hex(name.length) +
        hex(0), // check
      'latin1',
    );
    parts.push(header, name, pad(header.length + name.length), data, pad(data.length));
  }
  return Buffer.concat(parts);
}

/** The newest readable kernel image in /boot; throws with the package to install. */
export function requireKernel(): string {
  const names = existsSync('/boot') ? readdirSync('/boot').filter((n) => /^vmlinu[xz]-/.test(n)) : [];
  const readable = names
    .map((n) => join('/boot', n))
    .filter((p) => {
      try {
        accessSync(p, constants.R_OK);
        return statSync(p).isFile();
      } catch {
        return false;
      }
    })
    .sort();
  if (readable.length === 0) {
    throw new Error('no readable kernel in /boot — the KBOOT test needs one: apt-get install linux-image-amd64 (and make /boot/vmlinuz-* readable)');
  }
  return readable[readable.length - 1];
}

/** /bin/busybox, checked to be statically linked (an initramfs has no libraries). */
export function requireStaticBusybox(path = '/bin/busybox'): Buffer {
  if (!existsSync(path)) throw new Error(`${path} is missing — the KBOOT test needs it: apt-get install busybox-static`);
  const elf = readFileSync(path);
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    if (elf.readUInt32LE(phoff + i * phentsize) === 3 /* PT_INTERP */) {
      throw new Error(`${path} is dynamically linked — the KBOOT test needs busybox-static, not busybox`);
    }
  }
  return elf;
}

/** A file for the root of an initramfs (mode 0644 unless given). */
export interface InitramfsFile {
  name: string;
  data: Buffer;
  mode?: number;
}

/** An initramfs whose /init runs `script` (busybox sh); `extra` files go to the root. */
export function buildInitramfs(script: string, extra: InitramfsFile[] = []): Buffer {
  const busybox = requireStaticBusybox();
  return cpioNewc([
    ...extra.map((f) => ({ name: f.name, mode: f.mode ?? 0o100644, data: f.data })),
    { name: 'bin', mode: 0o040755 },
    { name: 'bin/busybox', mode: 0o100755, data: busybox },
    { name: 'dev', mode: 0o040755 },
    { name: 'dev/console', mode: 0o020600, rdevMajor: 5, rdevMinor: 1 },
    { name: 'proc', mode: 0o040755 },
    { name: 'sys', mode: 0o040755 },
    { name: 'init', mode: 0o100755, data: Buffer.from(`#!/bin/busybox sh\n${script}\n`) },
  ]);
}

/** Writes to a console FIFO without blocking (fails with ENXIO when QEMU does not hold it open). */
export function typeInto(fifo: string, text: string): void {
  const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** The kernel modules a KBOOT guest loads to see the ACPI power button (evdev, button). */
export function requirePowerButtonModules(kernel: string): InitramfsFile[] {
  return requireModules(kernel, ['kernel/drivers/input/evdev.ko', 'kernel/drivers/acpi/button.ko']);
}

/**
 * The modules a KBOOT guest loads, in this order, for its virtio NIC and the guest agent's
 * virtio-serial port (Debian builds virtio as modules).
 */
export const VIRTIO_NET_AND_SERIAL_MODULES = [
  'kernel/drivers/virtio/virtio_ring.ko',
  'kernel/drivers/virtio/virtio.ko',
  'kernel/drivers/virtio/virtio_pci_legacy_dev.ko',
  'kernel/drivers/virtio/virtio_pci_modern_dev.ko',
  'kernel/drivers/virtio/virtio_pci.ko',
  'kernel/net/core/failover.ko',
  'kernel/drivers/net/net_failover.ko',
  'kernel/drivers/net/virtio_net.ko',
  'kernel/drivers/char/virtio_console.ko',
];

/** Modules of the kernel `kernel` (paths under /lib/modules/<version>), named by their file name. */
export function requireModules(kernel: string, paths: string[]): InitramfsFile[] {
  const version = kernel.replace(/^.*\/vmlinu[xz]-/, '');
  return paths.map((rel) => {
    const path = join('/lib/modules', version, rel);
    if (!existsSync(path)) {
      throw new Error(`${path} is missing — the KBOOT test needs the modules of ${kernel} (uncompressed, as Debian ships them)`);
    }
    return { name: rel.slice(rel.lastIndexOf('/') + 1), data: readFileSync(path) };
  });
}

/**
 * The QEMU guest agent of this host (qemu-ga) with every shared library ldd names, for the
 * root of an initramfs; /init runs it as `/<loader> --library-path / /qemu-ga …`.
 */
export function requireGuestAgent(path = '/usr/sbin/qemu-ga'): { files: InitramfsFile[]; loader: string } {
  if (!existsSync(path)) throw new Error(`${path} is missing — the guest network test needs it: apt-get install qemu-guest-agent`);
  const libraries = execFileSync('ldd', [path], { encoding: 'utf8' })
    .split('\n')
    .map((line) => /(\/\S+)/.exec(line)?.[1])
    .filter((p): p is string => p !== undefined);
  const loader = libraries.find((p) => /\/ld-linux[^/]*\.so/.test(p));
  if (!loader) throw new Error(`ldd ${path} names no dynamic loader: ${libraries.join(', ')}`);
  return {
    files: [
      { name: 'qemu-ga', data: readFileSync(path), mode: 0o100755 },
      ...libraries.map((p) => ({ name: basename(p), data: readFileSync(p), mode: 0o100755 })),
    ],
    loader: basename(loader),
  };
}
