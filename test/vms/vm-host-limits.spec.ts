import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../../src/common/errors/api-error';
import { HostCapabilities } from '../../src/hypervisor/hypervisor-driver';
import { VmDefinition } from '../../src/vms/vm-definition';
import { checkAgainstHost } from '../../src/vms/vm-host-limits';

const host: HostCapabilities = {
  driver: 'qemu',
  max_cpu_count: 4,
  max_memory_mb: 8192,
  min_memory_mb: 128,
  max_display_width: 1920,
  max_display_height: 1080,
  bridge_interfaces: [],
  rosetta: false,
  macos_guests: false,
  screenshots: true,
  vm_types: ['EFI', 'KBOOT'],
};

const efi: VmDefinition = {
  name: 'vm',
  type: 'EFI',
  cpu_count: 4,
  memory_size_mb: 8192,
  displays: [{ width: 1920, height: 1080 }],
  storage_devices: [],
  nics: [],
  port_forwards: [],
  rosetta: false,
  autostart: false,
};

function refusal(definition: Partial<VmDefinition>, caps: Partial<HostCapabilities> = {}): { code: string; message: string } {
  try {
    checkAgainstHost({ ...efi, ...definition }, { ...host, ...caps });
  } catch (error) {
    assert.ok(error instanceof ApiError, `an ApiError, not ${String(error)}`);
    return { code: error.code, message: error.message };
  }
  assert.fail('the definition was accepted');
}

describe('host limits', () => {
  it('accepts a definition exactly at every limit', () => {
    assert.doesNotThrow(() => checkAgainstHost(efi, host));
    assert.doesNotThrow(() => checkAgainstHost({ ...efi, memory_size_mb: 128 }, host));
  });

  it('refuses a VM type the driver does not run, naming why', () => {
    assert.deepEqual(refusal({ type: 'MAC' }), {
      code: 'UNSUPPORTED_ON_HOST',
      message: 'MAC VMs are not available on this host: macOS guests need the vz driver on Apple silicon',
    });
    assert.match(refusal({ type: 'KBOOT', kernel: 'k' }, { vm_types: ['EFI'] }).message, /the qemu driver does not run KBOOT VMs/);
  });

  it('refuses CPUs, memory or displays beyond the host', () => {
    assert.deepEqual(refusal({ cpu_count: 5 }), { code: 'HOST_LIMIT_EXCEEDED', message: "cpu_count 5 exceeds the host's limit of 4" });
    assert.match(refusal({ memory_size_mb: 8193 }).message, /outside the host's range of 128 to 8192 MiB/);
    assert.match(refusal({ memory_size_mb: 127 }).message, /outside the host's range/);
    assert.deepEqual(refusal({ displays: [{ width: 800, height: 600 }, { width: 1921, height: 1080 }] }), {
      code: 'HOST_LIMIT_EXCEEDED',
      message: "display 1921x1080 exceeds the host's limit of 1920x1080",
    });
  });

  it('takes simulator controls only on the sim driver', () => {
    assert.equal(refusal({ sim: { poweroff_after_ms: 1 } }).code, 'VALIDATION_FAILED');
    assert.doesNotThrow(() => checkAgainstHost({ ...efi, sim: { poweroff_after_ms: 1 } }, { ...host, driver: 'sim' }));
  });

  it('needs a kernel for a KBOOT VM', () => {
    assert.deepEqual(refusal({ type: 'KBOOT' }), { code: 'VALIDATION_FAILED', message: 'Invalid request: kernel: a KBOOT VM needs a kernel image' });
  });
});
