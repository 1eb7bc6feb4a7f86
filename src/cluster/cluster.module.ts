import { Module } from '@nestjs/common';
import { AccessChanges } from '../common/access-changes';
import { AppConfig } from '../config/app-config';
import { VmEvents } from '../vms/events/vm-events.service';
import { VmsModule } from '../vms/vms.module';
import { ClusterRelay } from './cluster-relay';

/**
 * The cross-node signals of a cluster (VELOCITY_DATABASE_URL): a ClusterRelay, only when the
 * server has a cluster database. A single server has none, and never loads the pg driver.
 */
@Module({
  imports: [VmsModule],
  providers: [
    {
      provide: ClusterRelay,
      inject: [AppConfig, AccessChanges, VmEvents],
      useFactory: (config: AppConfig, accessChanges: AccessChanges, vmEvents: VmEvents): ClusterRelay | null =>
        config.databaseUrl ? new ClusterRelay({ url: config.databaseUrl, nodeName: config.nodeName, accessChanges, vmEvents }) : null,
    },
  ],
})
export class ClusterModule {}
