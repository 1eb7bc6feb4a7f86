import { Module } from '@nestjs/common';
import { CatalogAuthorizer } from './catalog-authorizer';
import { CatalogPermissionGuard } from './catalog-permission.guard';
import { CatalogPermissionsService } from './catalog-permissions.service';

/**
 * Who may do what in a catalog: the permission model, the authorizer and the guard behind
 * @RequireCatalogPermission. Separate from CatalogsModule, which manages catalogs and so
 * builds on the VMs module (deleting a catalog deletes its VMs), while the VMs module needs
 * these checks.
 */
@Module({
  providers: [CatalogPermissionsService, CatalogAuthorizer, CatalogPermissionGuard],
  exports: [CatalogPermissionsService, CatalogAuthorizer, CatalogPermissionGuard],
})
export class CatalogAccessModule {}
