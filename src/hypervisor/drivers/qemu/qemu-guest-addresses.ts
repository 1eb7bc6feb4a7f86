import { Logger } from '@nestjs/common';
import { isReachableAddress, normalizeMac, unique } from '../../guest-addresses';
import { GuestAgentInterface, guestNetworkInterfaces } from './qemu-guest-agent';
import { QemuInstance } from './qemu-instance';

const logger = new Logger('Hypervisor:qemu');

/** What QMP query-chardev tells about one character device. */
interface ChardevInfo {
  label: string;
  'frontend-open'?: boolean;
}

/**
 * The addresses the guest agent reports on the VM's own NICs (matched by MAC, so a
 * container bridge inside the guest does not count), without loopback and link-local
 * ones. [] when the guest has not opened the agent's port (no qemu-ga running: QMP
 * query-chardev says so at once) or the agent fails to answer in time.
 */
export async function agentAddresses(instance: QemuInstance, socketPath: string, chardev: string, macs: string[], timeoutMs: number): Promise<string[]> {
  try {
    const chardevs = await instance.execute<ChardevInfo[]>('query-chardev');
    if (!chardevs.some((c) => c.label === chardev && c['frontend-open'] === true)) return [];
    return addressesOfInterfaces(await guestNetworkInterfaces(socketPath, timeoutMs), macs);
  } catch (error) {
    logger.debug(`guest agent of QEMU pid ${instance.pid}: ${(error as Error).message}`);
    return [];
  }
}

/** The reachable addresses of the interfaces whose MAC is one of `macs`. */
export function addressesOfInterfaces(interfaces: GuestAgentInterface[], macs: string[]): string[] {
  const wanted = new Set(macs.map(normalizeMac));
  return unique(
    interfaces
      .filter((i) => i['hardware-address'] !== undefined && wanted.has(normalizeMac(i['hardware-address'])))
      .flatMap((i) => (i['ip-addresses'] ?? []).map((a) => a['ip-address']))
      .filter(isReachableAddress),
  );
}
