import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { HypervisorModule } from '../hypervisor/hypervisor.module';
import { IdentityModule } from '../identity/identity.module';
import { NicEntity } from './entities/nic.entity';
import { StorageEntity } from './entities/storage.entity';
import { NicsController } from './nics.controller';
import { NicsService } from './nics.service';
import { ResourceUsage } from './resource-usage';
import { StorageController } from './storage.controller';
import { StorageService } from './storage.service';

/** Storage images and NICs (`/r`). */
@Module({
  imports: [TypeOrmModule.forFeature([StorageEntity, NicEntity]), HypervisorModule, IdentityModule],
  controllers: [StorageController, NicsController],
  providers: [StorageService, NicsService, ResourceUsage],
  exports: [StorageService, NicsService, ResourceUsage],
})
export class ResourcesModule {}
