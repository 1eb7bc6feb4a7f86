import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { VmNicEntity } from './entities/vm-nic.entity';
import { VmStorageEntity } from './entities/vm-storage.entity';
import { VmEntity } from './entities/vm.entity';
import { VmLocks } from './vm-locks';
import { VmsRepository } from './vms.repository';

/**
 * The VM tables and their owner, with no dependency beyond the database: the VMs module
 * builds on it, and so do the modules that must ask which VM uses something (resources
 * refuse to delete an attached image; identity refuses to delete a group whose images VMs
 * elsewhere use) without depending on the whole VMs module. The per-VM locks are here too, so
 * that resources can hold the VMs that attach an image while they change its file.
 */
@Module({
  imports: [TypeOrmModule.forFeature([VmEntity, VmStorageEntity, VmNicEntity])],
  providers: [VmsRepository, VmLocks],
  exports: [VmsRepository, VmLocks],
})
export class VmsRepositoryModule {}
