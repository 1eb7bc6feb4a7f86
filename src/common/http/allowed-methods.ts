import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify';
import { ApiError } from '../errors/api-error';
import { mapError } from '../errors/error-body';

/**
 * Answers a request for a path that exists, with a method it does not take, with 405 and an
 * `Allow` header instead of 404, and OPTIONS on such a path with 204 and `Allow`: a client
 * (or a person with curl) learns it has the method wrong, not the path. The methods of each
 * path are learnt from the routes as they are registered, so this must be installed before
 * the application's routes are.
 */
export function answerWrongMethods(fastify: FastifyInstance): void {
  const methodsByPath = new Map<string, Set<string>>();
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const methods = methodsByPath.get(route.url) ?? new Set<string>();
    for (const method of [route.method].flat()) methods.add(method);
    methodsByPath.set(route.url, methods);
  });
  fastify.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    if (request.routeOptions.url !== undefined) return done(); // a route matched
    const path = request.url.split('?')[0];
    const methods = methodsByPath.get(path);
    if (!methods) return done(); // no such path: the 404
    const allow = [...methods].sort().join(', ');
    void reply.header('allow', allow);
    if (request.method === 'OPTIONS') return void reply.code(204).send();
    const { status, body } = mapError(new ApiError('METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}; it takes ${allow}`));
    void reply.code(status).send(body);
  });
}
