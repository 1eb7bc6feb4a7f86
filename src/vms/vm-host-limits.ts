import { ApiError } from '../common/errors/api-error';
import type { HostCapabilities } from '../hypervisor/hypervisor-driver';
import type { VmDefinition } from './vm-definition';

/**
 * Checks a definition against what the driver reports for this host, before anything is
 * stored or handed to the driver: the VM type, CPU count, memory and display sizes, and
 * fields only one driver takes.
 */
export function checkAgainstHost(definition: VmDefinition, caps: HostCapabilities): void {
  if (!caps.vm_types.includes(definition.type)) {
    const why = definition.type === 'MAC' ? 'macOS guests need the vz driver on Apple silicon' : `the ${caps.driver} driver does not run ${definition.type} VMs`;
    throw new ApiError('UNSUPPORTED_ON_HOST', `${definition.type} VMs are not available on this host: ${why}`);
  }
  if (definition.cpu_count > caps.max_cpu_count) {
    throw new ApiError('HOST_LIMIT_EXCEEDED', `cpu_count ${definition.cpu_count} exceeds the host's limit of ${caps.max_cpu_count}`);
  }
  if (definition.memory_size_mb > caps.max_memory_mb || definition.memory_size_mb < caps.min_memory_mb) {
    throw new ApiError(
      'HOST_LIMIT_EXCEEDED',
      `memory_size_mb ${definition.memory_size_mb} is outside the host's range of ${caps.min_memory_mb} to ${caps.max_memory_mb} MiB`,
    );
  }
  for (const d of definition.displays) {
    if (d.width > caps.max_display_width || d.height > caps.max_display_height) {
      throw new ApiError('HOST_LIMIT_EXCEEDED', `display ${d.width}x${d.height} exceeds the host's limit of ${caps.max_display_width}x${caps.max_display_height}`);
    }
  }
  if (definition.sim && caps.driver !== 'sim') {
    throw new ApiError('VALIDATION_FAILED', `Invalid request: sim: simulator controls need the sim driver; this server runs ${caps.driver}`);
  }
  if (definition.type === 'KBOOT' && !definition.kernel) {
    throw new ApiError('VALIDATION_FAILED', 'Invalid request: kernel: a KBOOT VM needs a kernel image');
  }
}
