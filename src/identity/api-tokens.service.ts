import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { CatalogPermissionsService } from '../catalogs/permissions/catalog-permissions.service';
import { anyPermission } from '../catalogs/permissions/catalog-permission';
import { AccessChanges } from '../common/access-changes';
import { Clock } from '../common/clock';
import { ApiError } from '../common/errors/api-error';
import { API_TOKEN_PREFIX } from './auth/api-token-scope';
import { ApiTokensRepository } from './auth/api-tokens.repository';
import { AuthenticatedUser } from './auth/authenticated-user';
import { digest, randomSecret } from './auth/secrets';
import { ApiTokenCatalog, ApiTokenEntity } from './entities/api-token.entity';

export interface NewApiToken {
  name: string;
  /** Unix seconds; undefined: until revoked. */
  expires?: number;
  readOnly: boolean;
  /** Undefined: every catalog. */
  catalogs?: ApiTokenCatalog[];
}

/**
 * Users' API tokens (`/u/token`): made by a user for themselves, with a scope that is a
 * subset of their rights when made, listed, revoked. Revocation publishes the dropped
 * secret's hash, so cached resolutions and open streams of the token end at once.
 */
@Injectable()
export class ApiTokensService {
  constructor(
    private readonly tokens: ApiTokensRepository,
    private readonly permissions: CatalogPermissionsService,
    private readonly accessChanges: AccessChanges,
    private readonly clock: Clock,
  ) {}

  /** The new token and its secret, which is not kept. */
  async create(caller: AuthenticatedUser, input: NewApiToken): Promise<{ token: ApiTokenEntity; secret: string }> {
    if (input.expires !== undefined && input.expires <= this.clock.nowSeconds()) {
      throw new ApiError('VALIDATION_FAILED', 'Invalid request: expires must be in the future (unix seconds)');
    }
    for (const scope of input.catalogs ?? []) await this.assertHeld(caller, scope);
    const secret = `${API_TOKEN_PREFIX}${randomSecret()}`;
    const token = await this.tokens.insert({
      id: randomUUID(),
      uid: caller.uid,
      name: input.name,
      secretHash: digest(secret),
      catalogs: input.catalogs ? input.catalogs.map(({ cid, permissions }) => ({ cid, permissions })) : null,
      readOnly: input.readOnly,
      expiresAt: input.expires ?? null,
    });
    return { token, secret };
  }

  /** The caller's tokens, or (root only) another user's. */
  list(caller: AuthenticatedUser, uid = caller.uid): Promise<ApiTokenEntity[]> {
    if (uid !== caller.uid && !caller.isRoot) throw new ApiError('PERMISSION_DENIED', 'Only root may list another user\'s API tokens');
    return this.tokens.listOf(uid);
  }

  /** Revokes one of the caller's tokens (root: anyone's); it stops working at once, streams included. */
  async revoke(caller: AuthenticatedUser, id: string): Promise<void> {
    const token = await this.tokens.find(id);
    if (!token || (token.uid !== caller.uid && !caller.isRoot)) throw new ApiError('TOKEN_NOT_FOUND', `API token ${id} does not exist or is not yours`);
    try {
      await this.tokens.delete(id);
    } finally {
      this.accessChanges.publish({ kind: 'authkey-dropped', keyHash: token.secretHash });
    }
  }

  /** A token's scope is a subset of the caller's rights now: each catalog visible, each permission held. */
  private async assertHeld(caller: AuthenticatedUser, { cid, permissions }: ApiTokenCatalog): Promise<void> {
    const access = await this.permissions.resolve(caller, cid);
    if (!access || !anyPermission(access.permissions)) throw new ApiError('CATALOG_NOT_FOUND', `cid ${cid} does not exist or is not visible to you`);
    const missing = permissions.filter((p) => !access.permissions[p]);
    if (missing.length) throw new ApiError('PERMISSION_DENIED', `A token cannot get what you do not have: you lack ${missing.join(', ')} on catalog ${cid}`);
  }
}
