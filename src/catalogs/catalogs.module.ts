import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { VmsModule } from '../vms/vms.module';
import { CatalogsController } from './catalogs.controller';
import { CatalogsService } from './catalogs.service';
import { CatalogEntity } from './entities/catalog.entity';
import { CatalogAccessModule } from './permissions/catalog-access.module';

/** Catalogs (`/c`) and their shares. Deleting a catalog deletes its VMs, so this builds on the VMs module. */
@Module({
  imports: [TypeOrmModule.forFeature([CatalogEntity]), CatalogAccessModule, VmsModule],
  controllers: [CatalogsController],
  providers: [CatalogsService],
  // Deleting a group deletes its catalogs (IdentityModule).
  exports: [CatalogsService],
})
export class CatalogsModule {}
