import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../../common/errors/api-error';
import { AppConfig } from '../../config/app-config';

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;

/**
 * Login attempts per client address (behind a trusted proxy, the forwarded address) and per
 * username, each at most VELOCITY_LOGIN_ATTEMPTS_PER_MINUTE a minute; more get 429 with
 * `Retry-After`. Counted before the password is checked, so a flood is turned away before it
 * costs a hash. Counters live in memory (@fastify/rate-limit's local store).
 */
@Injectable()
export class LoginRateLimitGuard implements CanActivate {
  private limiters?: Array<{ what: string; limit: Limiter }>;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly config: AppConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    for (const { what, limit } of this.limitersOnce()) {
      const result = await limit(request);
      if (!result.isAllowed && result.isExceeded) {
        throw new ApiError('RATE_LIMITED', `Too many login attempts for this ${what}; retry in ${result.ttlInSeconds} s`, {}, result.ttlInSeconds);
      }
    }
    return true;
  }

  // The plugin's decorator exists once Fastify has loaded it, i.e. by the first request.
  private limitersOnce(): Array<{ what: string; limit: Limiter }> {
    if (this.limiters) return this.limiters;
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    const options = { max: this.config.loginAttemptsPerMinute, timeWindow: 60_000 };
    this.limiters = [
      { what: 'client address', limit: fastify.createRateLimit({ ...options, keyGenerator: (request) => `address:${request.ip}` }) },
      { what: 'username', limit: fastify.createRateLimit({ ...options, keyGenerator: (request) => `username:${usernameOf(request)}` }) },
    ];
    return this.limiters;
  }
}

function usernameOf(request: FastifyRequest): string {
  const username = (request.body as { username?: unknown } | undefined)?.username;
  return typeof username === 'string' ? username.slice(0, 128) : '';
}
