import { Module } from '@nestjs/common';
import { CatalogAccessModule } from '../catalogs/permissions/catalog-access.module';
import { HypervisorModule } from '../hypervisor/hypervisor.module';
import { ResourcesModule } from '../resources/resources.module';
import { StreamsModule } from '../streams/streams.module';
import { VmConfigBuilder } from './vm-config.builder';
import { VmConsoleGateway } from './vm-console.gateway';
import { VmConsoleService } from './vm-console.service';
import { VmDisplayService } from './vm-display.service';
import { VmFiles } from './vm-files';
import { VmInteractController } from './vm-interact.controller';
import { VmLocks } from './vm-locks';
import { VmReconciliationService } from './vm-reconciliation.service';
import { VmRemoteScreenGateway } from './vm-remote-screen.gateway';
import { VmStateController } from './vm-state.controller';
import { VmStateService } from './vm-state.service';
import { VmsRepositoryModule } from './vms-repository.module';
import { VmsController } from './vms.controller';
import { VmsService } from './vms.service';

/** Virtual machines (`/v`): definitions, state, console, display and remote screen. */
@Module({
  imports: [VmsRepositoryModule, CatalogAccessModule, ResourcesModule, HypervisorModule, StreamsModule],
  controllers: [VmsController, VmStateController, VmInteractController],
  providers: [
    VmsService,
    VmStateService,
    VmReconciliationService,
    VmConfigBuilder,
    VmFiles,
    VmLocks,
    VmConsoleService,
    VmConsoleGateway,
    VmDisplayService,
    VmRemoteScreenGateway,
  ],
  // Deleting a catalog deletes its VMs (CatalogsService).
  exports: [VmsService],
})
export class VmsModule {}
