import { ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../../common/errors/api-error';
import { SpecialGroup } from '../entities/group.entity';
import { CallerToken, READ_ONLY_METHODS } from './api-token-scope';
import { AuthenticatedUser } from './authenticated-user';
import { API_TOKEN_USE, ApiTokenUse, AuthenticatedRequest, PUBLIC_ROUTE, REQUIRED_GROUP } from './authenticated.decorator';
import { extractAuthkey, stripAuthkey } from './authkey-extractor';
import { AuthkeysService } from './authkeys.service';

/**
 * Global guard: every route needs a valid authkey (or API token) unless marked @Public(),
 * routes marked @Authenticated({ group }) also need that special group, and an API token
 * must be allowed on the route (see ApiTokenUse and assertTokenMayCall). What a token may do
 * inside catalogs is the CatalogAuthorizer's to decide.
 */
@Injectable()
export class AuthkeyGuard extends AuthGuard('authkey') {
  constructor(
    private readonly reflector: Reflector,
    private readonly authkeys: AuthkeysService,
  ) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    const tokenUse = this.reflector.getAllAndOverride<ApiTokenUse | undefined>(API_TOKEN_USE, targets);
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) {
      if (tokenUse === 'refused') await this.refusePresentedToken(context.switchToHttp().getRequest<FastifyRequest>());
      return true;
    }
    await super.canActivate(context);
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    stripAuthkey(request);
    const { token } = request.user;
    if (token) assertTokenMayCall(token, tokenUse, request.method);
    const group = this.reflector.getAllAndOverride<SpecialGroup | null>(REQUIRED_GROUP, targets);
    if (group && !request.user.hasRight(group)) {
      throw new ApiError('PERMISSION_DENIED', `This action needs membership of the ${group} group`);
    }
    return true;
  }

  override handleRequest<TUser = AuthenticatedUser>(error: unknown, user: TUser | false): TUser {
    if (error) throw error;
    if (!user) throw new ApiError('AUTH_REQUIRED', 'A valid authkey is required (missing, unknown or expired)');
    return user;
  }

  // passport reads request.body/query/headers, which Fastify's request has as they are.
  override getRequest(context: ExecutionContext): FastifyRequest {
    return context.switchToHttp().getRequest<FastifyRequest>();
  }

  /** A public route that acts on the key it is sent (renew, logout) is no place for an API token. */
  private async refusePresentedToken(request: FastifyRequest): Promise<void> {
    const key = extractAuthkey(request);
    const session = key ? await this.authkeys.resolveSession(key) : null;
    if (session?.user.token) assertTokenMayCall(session.user.token, 'refused', request.method);
  }
}

/**
 * The route-level rules of API tokens, all refused with PERMISSION_DENIED (401), the answer
 * to every other missing right: no token on 'refused' routes; a read-only token only on
 * requests that change nothing; a token limited to catalogs only on 'scoped' routes.
 */
export function assertTokenMayCall(token: CallerToken, use: ApiTokenUse | undefined, method: string): void {
  if (use === 'refused') {
    throw new ApiError('PERMISSION_DENIED', 'API tokens cannot manage tokens, users, groups, memberships or authkeys: use an authkey from POST /u/auth');
  }
  if (token.scope.readOnly && !READ_ONLY_METHODS.has(method)) {
    throw new ApiError('PERMISSION_DENIED', `API token ${token.name} is read-only: it may only send GET requests`);
  }
  if (token.scope.catalogs && use !== 'scoped') {
    throw new ApiError('PERMISSION_DENIED', `API token ${token.name} is limited to its catalogs: it cannot act beyond them (resources, catalog creation, users and groups)`);
  }
}
