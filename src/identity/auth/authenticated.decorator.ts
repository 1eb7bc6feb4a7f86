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

/** The route needs no authkey (login, health). */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);

/**
 * The route needs a valid authkey and, with `group`, membership of that special group
 * (`root` passes every check). Also documents the bearer scheme and the 401.
 */
export function Authenticated(options: { group?: SpecialGroup } = {}) {
  const errors: ErrorCode[] = options.group ? ['AUTH_REQUIRED', 'PERMISSION_DENIED'] : ['AUTH_REQUIRED'];
  return applyDecorators(
    SetMetadata(REQUIRED_GROUP, options.group ?? null),
    ApiBearerAuth('authkey'),
    ApiErrors(errors),
  );
}

/** The authkey a request was authenticated with, as a long-lived stream watches it (never the key itself). */
export interface AuthkeyCredential {
  keyHash: string;
  /** Unix seconds. */
  expiresAt: number;
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
