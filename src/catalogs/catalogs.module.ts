import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { IdentityModule } from '../identity/identity.module';
import { CatalogDeletionHooks } from './catalog-deletion-hooks';
import { CatalogsController } from './catalogs.controller';
import { CatalogsService } from './catalogs.service';
import { CatalogEntity } from './entities/catalog.entity';
import { CatalogShareEntity } from './entities/catalog-share.entity';
import { CatalogAuthorizer } from './permissions/catalog-authorizer';
import { CatalogPermissionGuard } from './permissions/catalog-permission.guard';
import { CatalogPermissionsService } from './permissions/catalog-permissions.service';
import { CatalogReferenceResolvers } from './permissions/catalog-references';

/** Catalogs (`/c`), shares, and the permission guard other modules reuse. */
@Module({
  imports: [TypeOrmModule.forFeature([CatalogEntity, CatalogShareEntity]), IdentityModule],
  controllers: [CatalogsController],
  providers: [CatalogsService, CatalogPermissionsService, CatalogAuthorizer, CatalogReferenceResolvers, CatalogPermissionGuard, CatalogDeletionHooks],
  exports: [CatalogPermissionsService, CatalogAuthorizer, CatalogReferenceResolvers, CatalogPermissionGuard, CatalogDeletionHooks],
})
export class CatalogsModule {}
