import { EntityManager } from 'typeorm';
import { ApiError } from '../common/errors/api-error';
import { NicEntity } from '../resources/entities/nic.entity';
import type { PortForward } from './vm-definition';
import { VmsRepository } from './vms.repository';

/**
 * The rules of a VM's port forwards that need more than the DTO: they go through a NAT NIC,
 * and each host port+protocol once in the VM (422 / 400, before anything is written).
 */
export function checkPortForwards(forwards: PortForward[], nics: NicEntity[]): void {
  if (forwards.length > 0 && !nics.some((nic) => nic.type === 'NAT')) {
    throw new ApiError('PORT_FORWARD_NEEDS_NAT', 'port_forwards need a NAT NIC: add the NAT NIC to the VM\'s nics, or drop the forwards');
  }
  const seen = new Set<string>();
  for (const { protocol, host_port } of forwards) {
    const key = `${protocol}/${host_port}`;
    if (seen.has(key)) throw new ApiError('VALIDATION_FAILED', `Invalid request: port_forwards: ${protocol} host port ${host_port} is listed twice`);
    seen.add(key);
  }
}

/**
 * 409 when another VM forwards one of these host ports with the same protocol. Called in
 * the transaction that then writes the forwards: transactions run one at a time
 * (UnitOfWork), so check and write are one step, and the unique index backs it up.
 */
export async function assertPortsFree(repository: VmsRepository, manager: EntityManager, forwards: PortForward[], vmid: string): Promise<void> {
  const holder = await repository.portForwardHolder(manager, forwards, vmid);
  if (holder) {
    throw new ApiError('PORT_FORWARD_TAKEN', `VM ${holder.vmid} already forwards ${holder.protocol} host port ${holder.host_port}`, { ...holder });
  }
}
