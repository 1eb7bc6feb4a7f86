import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { HypervisorModule } from '../hypervisor/hypervisor.module';
import { QuotasModule } from '../quotas/quotas.module';
import { VmsRepositoryModule } from '../vms/vms-repository.module';
import { NicEntity } from './entities/nic.entity';
import { StorageEntity } from './entities/storage.entity';
import { NicsController } from './nics.controller';
import { NicsService } from './nics.service';
import { StorageController } from './storage.controller';
import { StorageFiles } from './storage-files';
import { StorageService } from './storage.service';

/** Storage images and NICs (`/r`). What a VM attaches is refused deletion: the VM tables say which VM. */
@Module({
  imports: [TypeOrmModule.forFeature([StorageEntity, NicEntity]), HypervisorModule, VmsRepositoryModule, QuotasModule],
  controllers: [StorageController, NicsController],
  providers: [StorageService, StorageFiles, NicsService],
  exports: [StorageService, NicsService],
})
export class ResourcesModule {}
