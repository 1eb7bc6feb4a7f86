import { RouteConfig } from '@nestjs/platform-fastify';
import type { RouteOptions } from 'fastify';

/**
 * A body limit for one route, below the global JSON_BODY_LIMIT: Fastify refuses a larger
 * body with 413 before reading it. Nest passes route options to Fastify only as `config`;
 * `applyBodyLimit` (an onRoute hook) turns it into the route's own `bodyLimit`.
 */
export const BodyLimit = (bytes: number): MethodDecorator => RouteConfig({ bodyLimit: bytes });

export function applyBodyLimit(route: RouteOptions): void {
  const bytes = (route.config as { bodyLimit?: unknown } | undefined)?.bodyLimit;
  if (typeof bytes === 'number') route.bodyLimit = bytes;
}
