import { applyDecorators, createParamDecorator, ExecutionContext, SetMetadata, UseGuards } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import { ApiErrors } from '../../common/swagger/api-errors.decorator';
import { REQUIRED_GROUP } from '../../identity/auth/authenticated.decorator';
import { SpecialGroup } from '../../identity/entities/group.entity';
import { CatalogPermission } from './catalog-permission';
import { CatalogPermissionRequirement } from './catalog-authorizer';
import { CATALOG_PERMISSION, CatalogPermissionGuard, CatalogRequest } from './catalog-permission.guard';
import { CatalogAccess } from './catalog-permissions.service';
import { CATALOG_BY_CID, CatalogReference } from './catalog-references';

/**
 * The handler needs `permission` on the catalog the request names (`cid` unless told
 * otherwise). 'any' means any permission at all, i.e. the catalog is visible. Also
 * documents the bearer scheme and the 401/404 answers. `group` adds a special-group requirement
 * (catalogmanager for deleting a catalog).
 */
export function RequireCatalogPermission(
  permission: CatalogPermission | 'any',
  options: { reference?: CatalogReference; group?: SpecialGroup } = {},
) {
  const reference = options.reference ?? CATALOG_BY_CID;
  const requirement: CatalogPermissionRequirement = { permission, reference };
  return applyDecorators(
    // A required special group is checked first, by the global authkey guard.
    SetMetadata(REQUIRED_GROUP, options.group ?? null),
    SetMetadata(CATALOG_PERMISSION, requirement),
    UseGuards(CatalogPermissionGuard),
    ApiBearerAuth('authkey'),
    ApiErrors(['VALIDATION_FAILED', 'AUTH_REQUIRED', 'PERMISSION_DENIED', reference.notFound]),
  );
}

/** The catalog access the permission guard resolved for this request. */
export const ResolvedCatalog = createParamDecorator(
  (_data: unknown, context: ExecutionContext): CatalogAccess => context.switchToHttp().getRequest<CatalogRequest>().catalogAccess,
);
