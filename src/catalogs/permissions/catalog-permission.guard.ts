import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { isUUID } from 'class-validator';
import { ApiError } from '../../common/errors/api-error';
import { AuthenticatedRequest } from '../../identity/auth/authenticated.decorator';
import { CatalogPermission } from './catalog-permission';
import { CatalogAccess, CatalogPermissionsService } from './catalog-permissions.service';
import { CatalogReference, CatalogReferenceResolvers } from './catalog-references';

export const CATALOG_PERMISSION = 'velocity:catalog-permission';

export interface CatalogPermissionRequirement {
  permission: CatalogPermission | 'any';
  reference: CatalogReference;
}

export interface CatalogRequest extends AuthenticatedRequest {
  catalogAccess: CatalogAccess;
}

/**
 * Checks the catalog permission a handler declares with @RequireCatalogPermission: finds the
 * catalog the request names (directly or through a VM), answers 404 when the caller cannot
 * see it at all and 401 when they can but lack the permission, and hands the resolved access
 * to the handler. Runs after the global authkey guard.
 */
@Injectable()
export class CatalogPermissionGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly permissions: CatalogPermissionsService,
    private readonly resolvers: CatalogReferenceResolvers,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const requirement = this.reflector.get<CatalogPermissionRequirement>(CATALOG_PERMISSION, context.getHandler());
    const request = context.switchToHttp().getRequest<CatalogRequest>();
    const { field, resolver, notFound } = requirement.reference;
    const id = readField(request, field);
    if (typeof id !== 'string' || !isUUID(id)) {
      throw new ApiError('VALIDATION_FAILED', `Invalid request: ${field}: must be a UUID`);
    }
    const cid = await this.resolvers.get(resolver)(id);
    const access = cid ? await this.permissions.resolve(request.user, cid) : null;
    const visible = access && Object.values(access.permissions).some(Boolean);
    if (!access || !visible) throw new ApiError(notFound, `${field} ${id} does not exist or is not visible to you`);
    if (requirement.permission !== 'any' && !access.permissions[requirement.permission]) {
      throw new ApiError('PERMISSION_DENIED', `This action needs the ${requirement.permission} permission on catalog ${access.cid}`);
    }
    request.catalogAccess = access;
    return true;
  }
}

function readField(request: CatalogRequest, field: string): unknown {
  for (const carrier of [request.body, request.query]) {
    if (carrier && typeof carrier === 'object' && field in carrier) return (carrier as Record<string, unknown>)[field];
  }
  return undefined;
}
