import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { HypervisorModule } from '../hypervisor/hypervisor.module';
import { VmsRepositoryModule } from '../vms/vms-repository.module';
import { NodeEntity } from './node.entity';
import { NodesController } from './nodes.controller';
import { NodesRepository } from './nodes.repository';
import { NodesService } from './nodes.service';

/**
 * The node registry (`/nodes`): this server's registration and heartbeat, which nodes are
 * online, and where VMs go. It reads what the VMs of each node are given from the VM tables'
 * owner, so the VMs module builds on it, not the other way round.
 */
@Module({
  imports: [TypeOrmModule.forFeature([NodeEntity]), HypervisorModule, VmsRepositoryModule],
  controllers: [NodesController],
  providers: [NodesRepository, NodesService],
  exports: [NodesService],
})
export class NodesModule {}
