import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthenticatedRequest } from '../../identity/auth/authenticated.decorator';
import { CatalogAuthorizer, CatalogPermissionRequirement } from './catalog-authorizer';
import { CatalogAccess } from './catalog-permissions.service';

export const CATALOG_PERMISSION = 'velocity:catalog-permission';

export interface CatalogRequest extends AuthenticatedRequest {
  catalogAccess: CatalogAccess;
}

/**
 * Checks the catalog permission a handler declares with @RequireCatalogPermission, reading
 * the catalog's (or VM's) id from the body or query, and hands the resolved access to the
 * handler. Runs after the global authkey guard.
 */
@Injectable()
export class CatalogPermissionGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly authorizer: CatalogAuthorizer,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const requirement = this.reflector.get<CatalogPermissionRequirement>(CATALOG_PERMISSION, context.getHandler());
    const request = context.switchToHttp().getRequest<CatalogRequest>();
    const id = readField(request, requirement.reference.field);
    request.catalogAccess = await this.authorizer.authorize(request.user, requirement, id);
    return true;
  }
}

function readField(request: CatalogRequest, field: string): unknown {
  for (const carrier of [request.body, request.query]) {
    if (carrier && typeof carrier === 'object' && field in carrier) return (carrier as Record<string, unknown>)[field];
  }
  return undefined;
}
