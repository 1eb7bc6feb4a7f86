import { Injectable } from '@nestjs/common';
import { DataSource, IsNull, Not } from 'typeorm';
import { UnitOfWork } from '../database/unit-of-work';
import { StorageEntity } from '../resources/entities/storage.entity';
import { VmEntity } from '../vms/entities/vm.entity';
import { NodeEntity } from './node.entity';

/** The one owner of the nodes table. */
@Injectable()
export class NodesRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly unitOfWork: UnitOfWork,
  ) {}

  /** Writes the node's row, replacing the one it left at its last run. */
  async register(node: NodeEntity): Promise<void> {
    await this.dataSource.manager.upsert(NodeEntity, node, ['name']);
  }

  /** Records a heartbeat; false when the node has no row (someone removed it). */
  async heartbeat(name: string, at: number): Promise<boolean> {
    const result = await this.dataSource.manager.update(NodeEntity, { name }, { heartbeatAt: at });
    return (result.affected ?? 0) > 0;
  }

  all(): Promise<NodeEntity[]> {
    return this.dataSource.manager.find(NodeEntity, { order: { name: 'ASC' } });
  }

  /**
   * At start, before any VM is defined: puts on node `name` the VMs and images that have no
   * node (written before nodes existed). With `sole` (a SQLite file, which one server alone
   * ever opens) also those of any other node, and forgets the other nodes: the server was
   * renamed (a laptop's host name changes with its network), its VMs did not move.
   * The one write on vms and storage outside their owners, made before either reads them.
   */
  async claim(name: string, { sole, images: claimImages }: { sole: boolean; images: boolean }): Promise<{ vms: number; images: number }> {
    return this.unitOfWork.run(async (manager) => {
      const unplaced = sole ? [{ node: IsNull() }, { node: Not(name) }] : { node: IsNull() };
      const vms = await manager.update(VmEntity, unplaced, { node: name });
      // Images on shared storage have no node and keep none.
      const images = claimImages ? await manager.update(StorageEntity, unplaced, { node: name }) : { affected: 0 };
      if (sole) await manager.delete(NodeEntity, { name: Not(name) });
      return { vms: vms.affected ?? 0, images: images.affected ?? 0 };
    });
  }
}
