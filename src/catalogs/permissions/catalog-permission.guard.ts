import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { noteAuthorizationRefusal } from '../../audit/request-audit';
import { ApiError } from '../../common/errors/api-error';
import { AuthenticatedRequest } from '../../identity/auth/authenticated.decorator';
import { CatalogAuthorizer, CatalogPermissionRequirement } from './catalog-authorizer';
import { CatalogAccess } from './catalog-permissions.service';

export const CATALOG_PERMISSIONS = 'velocity:catalog-permissions';

export interface CatalogRequest extends AuthenticatedRequest {
  /** The access resolved for each requirement, by the request field it read the id from. */
  catalogAccesses: Map<string, CatalogAccess>;
}

/**
 * Checks the catalog permissions a handler declares with @RequireCatalogPermission, in
 * order, reading each catalog's (or VM's) id from the body or query, and hands the resolved
 * access to the handler. Runs after the global authkey guard.
 */
@Injectable()
export class CatalogPermissionGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly authorizer: CatalogAuthorizer,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const requirements = this.reflector.get<CatalogPermissionRequirement[]>(CATALOG_PERMISSIONS, context.getHandler());
    const request = context.switchToHttp().getRequest<CatalogRequest>();
    request.catalogAccesses = new Map();
    for (const requirement of requirements) {
      const { field } = requirement.reference;
      const access = await this.authorizer.authorize(request.user, requirement, readField(request, field)).catch((error: unknown) => {
        // A 404 here means "not visible to you": a refusal the audit log keeps, unlike other 404s.
        if (error instanceof ApiError && error.status === 404) noteAuthorizationRefusal(request);
        throw error;
      });
      request.catalogAccesses.set(field, access);
    }
    return true;
  }
}

function readField(request: CatalogRequest, field: string): unknown {
  for (const carrier of [request.body, request.query]) {
    if (carrier && typeof carrier === 'object' && field in carrier) return (carrier as Record<string, unknown>)[field];
  }
  return undefined;
}
