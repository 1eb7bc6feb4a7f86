import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CatalogsModule } from '../catalogs/catalogs.module';
import { HypervisorModule } from '../hypervisor/hypervisor.module';
import { IdentityModule } from '../identity/identity.module';
import { ResourcesModule } from '../resources/resources.module';
import { VmNicEntity } from './entities/vm-nic.entity';
import { VmStorageEntity } from './entities/vm-storage.entity';
import { VmEntity } from './entities/vm.entity';
import { VmConfigBuilder } from './vm-config.builder';
import { VmConsoleGateway } from './vm-console.gateway';
import { VmConsoleService } from './vm-console.service';
import { VmFiles } from './vm-files';
import { VmInteractController } from './vm-interact.controller';
import { VmLifecycleService } from './vm-lifecycle.service';
import { VmLocks } from './vm-locks';
import { VmStateController } from './vm-state.controller';
import { VmStateService } from './vm-state.service';
import { VmsController } from './vms.controller';
import { VmsRepository } from './vms.repository';
import { VmsService } from './vms.service';

/** Virtual machines (`/v`): definitions, state, console and display. */
@Module({
  imports: [
    TypeOrmModule.forFeature([VmEntity, VmStorageEntity, VmNicEntity]),
    CatalogsModule,
    ResourcesModule,
    HypervisorModule,
    IdentityModule,
  ],
  controllers: [VmsController, VmStateController, VmInteractController],
  providers: [
    VmsService,
    VmsRepository,
    VmStateService,
    VmLifecycleService,
    VmConfigBuilder,
    VmFiles,
    VmLocks,
    VmConsoleService,
    VmConsoleGateway,
  ],
})
export class VmsModule {}
