import { applyDecorators, createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ApiErrors } from '../../common/swagger/api-errors.decorator';
import { ErrorCode } from '../../common/errors/error-codes';
import { SpecialGroup } from '../entities/group.entity';
import { AuthenticatedUser } from './authenticated-user';
import { extractAuthkey } from './authkey-extractor';

export const PUBLIC_ROUTE = 'velocity:public';
export const REQUIRED_GROUP = 'velocity:required-group';
export const API_TOKEN_USE = 'velocity:api-token-use';

/**
 * Which API tokens may call a route (the global guard decides; unmarked routes take tokens
 * without a catalog list only, since they act beyond any one catalog):
 * - 'refused': no token at all — managing tokens, changing users, groups and memberships,
 *   renewing or dropping authkeys (a token cannot make or widen credentials);
 * - 'scoped': also tokens limited to catalogs, because the route acts on catalogs that the
 *   CatalogAuthorizer checks against the token's scope, or shows only the caller's own view.
 */
export type ApiTokenUse = 'refused' | 'scoped';

/** The route needs no authkey (login, health); `apiTokens: 'refused'` still turns away a presented API token (401). */
export function Public(options: { apiTokens?: 'refused' } = {}) {
  return applyDecorators(SetMetadata(PUBLIC_ROUTE, true), ...(options.apiTokens ? [SetMetadata(API_TOKEN_USE, options.apiTokens)] : []));
}

/**
 * The route needs a valid authkey (or API token) and, with `group`, membership of that
 * special group (`root` passes every check); `apiTokens` says which tokens may call it.
 * Also documents the bearer scheme (authkeys and API tokens alike) and the 401s.
 */
export function Authenticated(options: { group?: SpecialGroup; apiTokens?: ApiTokenUse } = {}) {
  // PERMISSION_DENIED on every route: an API token's scope may not allow it.
  const errors: ErrorCode[] = ['AUTH_REQUIRED', 'PERMISSION_DENIED'];
  return applyDecorators(
    SetMetadata(REQUIRED_GROUP, options.group ?? null),
    ...(options.apiTokens ? [SetMetadata(API_TOKEN_USE, options.apiTokens)] : []),
    ApiBearerAuth('authkey'),
    ApiErrors(errors),
  );
}

/** The authkey (or API token) a request was authenticated with, as a long-lived stream watches it (never the key itself). */
export interface AuthkeyCredential {
  keyHash: string;
  /** Unix seconds; null for an API token without expiry. */
  expiresAt: number | null;
}

export interface AuthenticatedRequest extends FastifyRequest {
  user: AuthenticatedUser;
  credential: AuthkeyCredential;
}

/** The caller resolved by the authkey guard. */
export const CurrentUser = createParamDecorator(
  (_data: unknown, context: ExecutionContext): AuthenticatedUser =>
    context.switchToHttp().getRequest<AuthenticatedRequest>().user,
);

/** The credential the authkey guard checked (for a handler that keeps a stream open while the key is valid). */
export const CurrentCredential = createParamDecorator(
  (_data: unknown, context: ExecutionContext): AuthkeyCredential => context.switchToHttp().getRequest<AuthenticatedRequest>().credential,
);

/** The authkey the request presents, for the routes that act on the key itself. */
export const PresentedAuthkey = createParamDecorator((_data: unknown, context: ExecutionContext) =>
  extractAuthkey(context.switchToHttp().getRequest<FastifyRequest>()),
);
