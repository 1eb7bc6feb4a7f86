import { ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../../common/errors/api-error';
import { SpecialGroup } from '../entities/group.entity';
import { AuthenticatedUser } from './authenticated-user';
import { AuthenticatedRequest, PUBLIC_ROUTE, REQUIRED_GROUP } from './authenticated.decorator';
import { stripAuthkey } from './authkey-extractor';

/**
 * Global guard: every route needs a valid authkey unless marked @Public(), and routes
 * marked @Authenticated({ group }) also need that special group.
 */
@Injectable()
export class AuthkeyGuard extends AuthGuard('authkey') {
  constructor(private readonly reflector: Reflector) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;
    await super.canActivate(context);
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    stripAuthkey(request);
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
}
