import { Injectable } from '@nestjs/common';
import type { RemoteNode } from '../cluster/forwarding/node-forwarder';
import { OwningNodes } from '../cluster/forwarding/owning-nodes';
import { VmsRepository } from '../vms/vms.repository';
import { NodesService } from './nodes.service';

/** OwningNodes from the registry: a VM's `node` (from the VM rows in memory), and that node's address and liveness. */
@Injectable()
export class VmOwners extends OwningNodes {
  constructor(
    private readonly vms: VmsRepository,
    private readonly nodes: NodesService,
  ) {
    super();
  }

  async ofVm(vmid: string): Promise<RemoteNode | null> {
    const rows = await this.vms.view(vmid);
    if (!rows) return null;
    const node = this.nodes.remote(rows.vm.node);
    // A node this one has not seen (registered after its last refresh) is offline to it until the next heartbeat.
    return node ?? (this.nodes.isLocal(rows.vm.node) ? null : { name: rows.vm.node!, url: '', online: false });
  }
}
