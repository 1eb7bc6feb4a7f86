import { applyDecorators, createParamDecorator, ExecutionContext, SetMetadata, UseGuards } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import { ApiErrors } from '../../common/swagger/api-errors.decorator';
import { API_TOKEN_USE, REQUIRED_GROUP } from '../../identity/auth/authenticated.decorator';
import { SpecialGroup } from '../../identity/entities/group.entity';
import { CatalogPermission } from './catalog-permission';
import { CatalogPermissionRequirement } from './catalog-authorizer';
import { CATALOG_PERMISSIONS, CatalogPermissionGuard, CatalogRequest } from './catalog-permission.guard';
import { CatalogAccess } from './catalog-permissions.service';
import { CATALOG_BY_CID, CatalogReference } from './catalog-references';

/**
 * The handler needs `permission` on the catalog the request names (`cid` unless told
 * otherwise). 'any' means any permission at all, i.e. the catalog is visible. Also
 * documents the bearer scheme and the 401/404 answers. API tokens limited to catalogs may
 * call it (see ApiTokenUse). `group` adds a special-group requirement
 * (catalogmanager for deleting a catalog). `also` names a second catalog the request acts on
 * (a VM cloned into another catalog needs `view` on the source and `create` on the target);
 * the requirements are checked in order, so the first refusal is the answer.
 */
export function RequireCatalogPermission(
  permission: CatalogPermission | 'any',
  options: { reference?: CatalogReference; group?: SpecialGroup; also?: CatalogPermissionRequirement } = {},
) {
  const requirements: CatalogPermissionRequirement[] = [{ permission, reference: options.reference ?? CATALOG_BY_CID }];
  if (options.also) requirements.push(options.also);
  const notFound = [...new Set(requirements.map((r) => r.reference.notFound))];
  return applyDecorators(
    // A required special group is checked first, by the global authkey guard.
    SetMetadata(REQUIRED_GROUP, options.group ?? null),
    SetMetadata(CATALOG_PERMISSIONS, requirements),
    // The authorizer narrows each catalog to an API token's scope, so tokens limited to catalogs may call.
    SetMetadata(API_TOKEN_USE, 'scoped'),
    UseGuards(CatalogPermissionGuard),
    ApiBearerAuth('authkey'),
    ApiErrors(['VALIDATION_FAILED', 'AUTH_REQUIRED', 'PERMISSION_DENIED', ...notFound]),
  );
}

/**
 * The catalog access the permission guard resolved for this request: for the requirement
 * that reads `field` (the catalog of a request with two, say), else the first.
 */
export const ResolvedCatalog = createParamDecorator((field: string | undefined, context: ExecutionContext): CatalogAccess => {
  const { catalogAccesses } = context.switchToHttp().getRequest<CatalogRequest>();
  return (field && catalogAccesses.get(field)) || catalogAccesses.values().next().value!;
});
