import { Injectable } from '@nestjs/common';
import { NodesService } from '../../nodes/nodes.service';
import { StorageService } from '../../resources/storage.service';
import { VmsRepository } from '../../vms/vms.repository';
import type { RemoteNode } from './node-forwarder';
import { OwningNodes } from './owning-nodes';

/** OwningNodes from the rows (a VM's or an image's `node`) and the node registry (that node's address and liveness). */
@Injectable()
export class ClusterOwners extends OwningNodes {
  constructor(
    private readonly vms: VmsRepository,
    private readonly storage: StorageService,
    private readonly nodes: NodesService,
  ) {
    super();
  }

  async ofVm(vmid: string): Promise<RemoteNode | null> {
    const rows = await this.vms.view(vmid);
    return rows ? this.remote(rows.vm.node) : null;
  }

  async ofImage(stid: string): Promise<RemoteNode | null> {
    const node = await this.storage.nodeOf(stid);
    // On shared storage (no node), or unknown: served here.
    return node ? this.remote(node) : null;
  }

  private remote(node: string | null): RemoteNode | null {
    if (this.nodes.isLocal(node)) return null;
    // A node registered after this one's last refresh is offline to it until its next heartbeat.
    return this.nodes.remote(node) ?? { name: node!, url: '', online: false };
  }
}
