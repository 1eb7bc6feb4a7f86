import { Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { isUUID } from 'class-validator';
import { ApiError } from '../../common/errors/api-error';
import { AuthenticatedUser } from '../../identity/auth/authenticated-user';
import { CatalogPermission } from './catalog-permission';
import { CatalogAccess, CatalogPermissionsService } from './catalog-permissions.service';
import { CatalogReference } from './catalog-references';

export interface CatalogPermissionRequirement {
  permission: CatalogPermission | 'any';
  reference: CatalogReference;
}

/**
 * Decides whether a user may do what a requirement names, given the id the request carries:
 * 400 for a malformed id, 404 (the reference's code) when the catalog is not visible to the
 * user at all, 401 when it is visible but the permission is missing. The HTTP guard and
 * StreamAuthorizer (every WebSocket stream, when it opens and on each re-check) both use it,
 * so the rule lives in one place.
 */
@Injectable()
export class CatalogAuthorizer {
  constructor(
    private readonly permissions: CatalogPermissionsService,
    private readonly moduleRef: ModuleRef,
  ) {}

  async authorize(user: AuthenticatedUser, requirement: CatalogPermissionRequirement, id: unknown): Promise<CatalogAccess> {
    const { field, resolver, notFound } = requirement.reference;
    if (typeof id !== 'string' || !isUUID(id)) {
      throw new ApiError('VALIDATION_FAILED', `Invalid request: ${field}: must be a UUID`);
    }
    // The resolver is a provider of the module that owns what the id names (VMs, say).
    const cid = resolver ? await this.moduleRef.get(resolver, { strict: false }).catalogOf(id) : id;
    const access = cid ? await this.permissions.resolve(user, cid) : null;
    const visible = access && Object.values(access.permissions).some(Boolean);
    if (!access || !visible) throw new ApiError(notFound, `${field} ${id} does not exist or is not visible to you`);
    if (requirement.permission !== 'any' && !access.permissions[requirement.permission]) {
      throw new ApiError('PERMISSION_DENIED', `This action needs the ${requirement.permission} permission on catalog ${access.cid}`);
    }
    return access;
  }
}
