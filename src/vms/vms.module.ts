import { Module } from '@nestjs/common';
import { CatalogAccessModule } from '../catalogs/permissions/catalog-access.module';
import { HypervisorModule } from '../hypervisor/hypervisor.module';
import { AuthModule } from '../identity/auth/auth.module';
import { QuotasModule } from '../quotas/quotas.module';
import { ResourcesModule } from '../resources/resources.module';
import { StreamsModule } from '../streams/streams.module';
import { VmChangeRecorder } from './events/vm-change-recorder';
import { VmEventStreams } from './events/vm-event-streams.service';
import { VmEvents } from './events/vm-events.service';
import { VmEventsController } from './events/vm-events.controller';
import { VmStateCauses } from './events/vm-state-causes';
import { VmConfigBuilder } from './vm-config.builder';
import { VmConsoleGateway } from './vm-console.gateway';
import { VmConsoleService } from './vm-console.service';
import { VmDisplayService } from './vm-display.service';
import { VmFiles } from './vm-files';
import { VmInteractController } from './vm-interact.controller';
import { VmReconciliationService } from './vm-reconciliation.service';
import { VmRemoteScreenGateway } from './vm-remote-screen.gateway';
import { VmStateController } from './vm-state.controller';
import { VmStateService } from './vm-state.service';
import { VmsRepositoryModule } from './vms-repository.module';
import { VmsController } from './vms.controller';
import { VmsService } from './vms.service';

/** Virtual machines (`/v`): definitions, state, events, console, display and remote screen. */
@Module({
  imports: [VmsRepositoryModule, AuthModule, CatalogAccessModule, ResourcesModule, HypervisorModule, StreamsModule, QuotasModule],
  controllers: [VmsController, VmStateController, VmInteractController, VmEventsController],
  providers: [
    VmsService,
    VmStateService,
    VmReconciliationService,
    VmConfigBuilder,
    VmFiles,
    VmConsoleService,
    VmConsoleGateway,
    VmDisplayService,
    VmRemoteScreenGateway,
    VmEvents,
    VmStateCauses,
    VmChangeRecorder,
    VmEventStreams,
  ],
  // Deleting a catalog deletes its VMs (CatalogsService); a cluster relays the events (ClusterModule).
  exports: [VmsService, VmEvents],
})
export class VmsModule {}
