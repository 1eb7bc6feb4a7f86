import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { nativeLibraryPath } from '../../src/hypervisor/driver-selection';
import { HostCapabilities, VmConfig } from '../../src/hypervisor/hypervisor-driver';
import { HypervisorError } from '../../src/hypervisor/hypervisor.errors';
import { NativeEvent, NativeHypervisorBinding } from '../../src/hypervisor/native/native-binding';
import { EXPECTED_ABI_VERSION } from '../../src/hypervisor/native/velocity-hv.library';
import { ScratchDir } from '../support/scratch-dir';

/*
 * The Swift `vz` library (native-bridge/swift) through the server's own binding. It only
 * exists on macOS; the macOS workflow builds it and runs this file twice: with the plain
 * `node` (`npm test`: the VM tests skip, since Virtualization.framework refuses every
 * configuration of a process without the com.apple.security.virtualization entitlement)
 * and with the ad-hoc signed copy from scripts/sign-node-macos.sh, with
 * VELOCITY_VZ_EXPECT_ENTITLED=1 so that a signing mistake fails instead of skipping.
 *
 * No test starts a VM: GitHub's macOS runners are themselves VMs, and the Apple-silicon
 * ones offer no nested virtualization (VZVirtualMachine.isSupported is false there, and the
 * library answers UNSUPPORTED), so a guest could not boot in CI. Creating a VM is as far as
 * these tests go: it builds and validates the whole configuration with the framework.
 */

const MIB = 1024 * 1024;

/** Asserts that `fn` throws a HypervisorError with that code (and a message matching). */
function assertHvError(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof HypervisorError, `expected a HypervisorError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    if (message) assert.match(err.message, message);
    return true;
  });
}

/** True when the running node binary carries the virtualization entitlement. */
function nodeIsEntitled(): boolean {
  // `--xml` prints the plist on current macOS; the plain form is the fallback for older ones.
  return [['--xml'], []].some((extra) => {
    const result = spawnSync('codesign', ['-d', '--entitlements', '-', ...extra, process.execPath], { encoding: 'utf8' });
    return `${result.stdout ?? ''}${result.stderr ?? ''}`.includes('com.apple.security.virtualization');
  });
}

let counter = 0;
function vmId(): string {
  counter++;
  return `00000000-0000-4000-9000-${counter.toString(16).padStart(12, '0')}`;
}

describe('vz binding', { skip: process.platform !== 'darwin' && 'needs macOS (Virtualization.framework)' }, () => {
  let binding: NativeHypervisorBinding;
  let caps: HostCapabilities;
  let entitled: boolean;
  const events: NativeEvent[] = [];
  let stopListening: () => void;
  let dir: ScratchDir | undefined;

  before(() => {
    const path = nativeLibraryPath('vz');
    assert.ok(existsSync(path), `the vz library is not built (${path}): run "node native-bridge/build.js" on macOS`);
    binding = NativeHypervisorBinding.load(path);
    stopListening = binding.onEvent((event) => events.push(event));
    caps = binding.hostCapabilities();
    entitled = nodeIsEntitled();
    if (process.env.VELOCITY_VZ_EXPECT_ENTITLED === '1') {
      assert.ok(entitled, `${process.execPath} lacks com.apple.security.virtualization: run scripts/sign-node-macos.sh`);
    }
  });
  after(async () => {
    stopListening?.();
    // Unregisters the native callback off the JS thread (vhv_set_event_callback(NULL)).
    await binding?.close();
  });
  afterEach(() => {
    dir?.cleanup();
    dir = undefined;
  });

  function tempDir(): string {
    dir = new ScratchDir('velocity-vz-test-');
    return dir.path;
  }

  /** A complete EFI configuration in `base`: blank disk, console FIFO and log, NAT, display. */
  function efiConfig(base: string, overrides: Partial<VmConfig> = {}): VmConfig {
    const disk = join(base, 'disk.img');
    if (!existsSync(disk)) {
      writeFileSync(disk, '');
      truncateSync(disk, 64 * MIB); // sparse, like the server's blank images
    }
    const fifo = join(base, 'console.in');
    if (!existsSync(fifo)) spawnSync('mkfifo', ['-m', '600', fifo]);
    return {
      name: 'vz-test',
      type: 'EFI',
      cpu_count: 1,
      memory_size_mb: Math.min(Math.max(caps.min_memory_mb, 512), caps.max_memory_mb),
      directory: join(base, 'vm'),
      console: { output: join(base, 'console.log'), input: fifo },
      disks: [{ path: disk, read_only: false }],
      nics: [{ type: 'NAT', mac: '52:54:00:12:34:56' }],
      displays: [{ width: 1024, height: 768 }],
      rosetta: false,
      ...overrides,
    };
  }

  it('loads the library and reports the expected ABI version', () => {
    assert.equal(binding.abiVersion, EXPECTED_ABI_VERSION);
  });

  it('reports what Virtualization.framework allows on this host', () => {
    assert.equal(caps.driver, 'vz');
    assert.ok(Number.isInteger(caps.max_cpu_count) && caps.max_cpu_count >= 1 && caps.max_cpu_count <= 1024);
    assert.ok(Number.isInteger(caps.min_memory_mb) && caps.min_memory_mb >= 1);
    assert.ok(Number.isInteger(caps.max_memory_mb) && caps.max_memory_mb > caps.min_memory_mb);
    assert.ok(caps.max_display_width >= 1024 && caps.max_display_height >= 768);
    assert.equal(caps.screenshots, false);
    assert.equal(typeof caps.rosetta, 'boolean');
    assert.ok(Array.isArray(caps.bridge_interfaces));
    for (const bridge of caps.bridge_interfaces) {
      assert.ok(bridge.id.length > 0 && bridge.name.length > 0 && typeof bridge.description === 'string');
    }
    assert.ok(caps.vm_types.every((t) => ['EFI', 'KBOOT', 'MAC'].includes(t)));
    if (process.arch !== 'arm64') {
      assert.ok(!caps.vm_types.includes('MAC'), 'macOS guests need Apple silicon');
      assert.equal(caps.macos_guests, false);
      assert.equal(caps.rosetta, false);
    } else {
      assert.equal(caps.macos_guests, caps.vm_types.includes('MAC'));
    }
  });

  it('refuses a KBOOT VM whose kernel file does not exist with INVALID_CONFIG', () => {
    const base = tempDir();
    const config = efiConfig(base, {
      type: 'KBOOT',
      kboot: { kernel: join(base, 'no-such-kernel'), initrd: null, cmdline: 'console=hvc0' },
    });
    assertHvError(() => binding.create(vmId(), config), 'INVALID_CONFIG', /kboot\.kernel.*does not exist/);
  });

  it('refuses numbers outside the host limits and bad devices with INVALID_CONFIG', () => {
    const base = tempDir();
    assertHvError(() => binding.create(vmId(), efiConfig(base, { cpu_count: 0 })), 'INVALID_CONFIG', /cpu_count/);
    assertHvError(
      () => binding.create(vmId(), efiConfig(base, { memory_size_mb: caps.max_memory_mb + 1 })),
      'INVALID_CONFIG',
      /memory_size_mb/,
    );
    assertHvError(
      () => binding.create(vmId(), efiConfig(base, { displays: [{ width: 0, height: 768 }] })),
      'INVALID_CONFIG',
      /displays\[0\]/,
    );
    assertHvError(
      () => binding.create(vmId(), efiConfig(base, { nics: [{ type: 'NAT', mac: 'not-a-mac' }] })),
      'INVALID_CONFIG',
      /nics\[0\]\.mac/,
    );
    assertHvError(
      () => binding.create(vmId(), efiConfig(base, { disks: [{ path: join(base, 'missing.img'), read_only: true }] })),
      'INVALID_CONFIG',
      /disks\[0\]\.path/,
    );
    const notAFifo = join(base, 'plain.in');
    writeFileSync(notAFifo, '');
    assertHvError(
      () => binding.create(vmId(), efiConfig(base, { console: { output: join(base, 'c.log'), input: notAFifo } })),
      'INVALID_CONFIG',
      /console\.input/,
    );
  });

  it('refuses port forwards with UNSUPPORTED: the framework\'s NAT has none', () => {
    const forwards = [{ protocol: 'tcp' as const, host_address: '127.0.0.1', host_port: 2222, guest_port: 22 }];
    assertHvError(() => binding.create(vmId(), efiConfig(tempDir(), { nics: [{ type: 'NAT' }], port_forwards: forwards })), 'UNSUPPORTED', /port_forwards/);
  });

  it('answers NOT_FOUND for a VM it does not know', () => {
    const id = vmId();
    assertHvError(() => binding.state(id), 'NOT_FOUND');
    assertHvError(() => binding.operate(id, 'start'), 'NOT_FOUND');
    assertHvError(() => binding.destroy(id), 'NOT_FOUND');
    assertHvError(() => binding.guestAddresses(id), 'NOT_FOUND');
  });

  it('creates an EFI VM from a blank disk in STOPPED, keeps its identity, refuses what STOPPED forbids, destroys it', (t) => {
    if (caps.vm_types.length === 0) {
      t.skip('this host cannot run VMs (VZVirtualMachine.isSupported is false: no nested virtualization)');
      return;
    }
    if (!entitled) {
      t.skip('node lacks com.apple.security.virtualization: run it signed by scripts/sign-node-macos.sh');
      return;
    }
    const base = tempDir();
    const config = efiConfig(base);
    const id = vmId();
    const eventsBefore = events.length;

    assert.equal(binding.create(id, config), 'STOPPED');
    assert.equal(binding.state(id), 'STOPPED');
    assertHvError(() => binding.create(id, config), 'ALREADY_EXISTS');
    // Before a start the configured MACs are all the library knows; never an address.
    assert.deepEqual(binding.guestAddresses(id), config.nics.map((n) => ({ mac: n.mac ?? null, ip_addresses: [] })));

    // The persistent EFI variable store and machine identifier now live in the VM directory.
    const identifierPath = join(config.directory, 'machine-identifier.bin');
    assert.ok(existsSync(join(config.directory, 'efi-vars.fd')));
    assert.ok(existsSync(identifierPath));
    const identifier = readFileSync(identifierPath);

    for (const op of ['pause', 'resume', 'request_stop', 'stop'] as const) {
      assertHvError(() => binding.operate(id, op), 'INVALID_STATE');
    }
    assertHvError(
      () => binding.captureDisplay(id, 0, join(base, 'frame.ppm')),
      'UNSUPPORTED',
      /cannot capture frames headlessly/,
    );

    binding.destroy(id);
    assertHvError(() => binding.state(id), 'NOT_FOUND');

    // Created again from the same directory, it is the same machine.
    const again = vmId();
    assert.equal(binding.create(again, config), 'STOPPED');
    assert.deepEqual(readFileSync(identifierPath), identifier);
    binding.destroy(again);

    // Nothing above changes a state, so the library sent no event.
    assert.deepEqual(events.slice(eventsBefore), []);
  });
});
