import { Injectable, OnModuleInit, RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService, HttpAdapterHost, MetadataScanner } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { RequestAudit } from '../../audit/request-audit';
import { isForwardedByNode } from '../../common/http/forwarded-by-node';
import { AppConfig } from '../../config/app-config';
import { NodeForwarder } from './node-forwarder';
import { OWNING_NODE, OwningNodeRoute } from './on-owning-node.decorator';
import { OwningNodes } from './owning-nodes';

/**
 * In a cluster, sends a request to a route marked @OnVmNode or @OnImageNode to the node that
 * runs its VM or holds its image's file, when that is another node; serves it here otherwise.
 * A Fastify hook rather than a Nest interceptor: a global interceptor costs every request of
 * every route (measured: GET /health at 0.4x of its speed without one), this costs one map
 * lookup, and a single host has neither. The hook runs before the route's guard: the owner
 * authorizes the request against the same database and answers a refusal itself. A
 * forwarded request is served where it arrives, never forwarded again; the owner records it
 * in its audit log, this node does not.
 */
@Injectable()
export class ForwardingHook implements OnModuleInit {
  /** `METHOD /full/route/path` (as Fastify names the route) → where it must run. */
  private readonly routes = new Map<string, OwningNodeRoute>();

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly owners: OwningNodes,
    private readonly forwarder: NodeForwarder,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    for (const { metatype, instance } of this.discovery.getControllers()) {
      if (!metatype || !instance) continue;
      const prototype = Object.getPrototypeOf(instance) as Record<string, unknown>;
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name] as object;
        const route = Reflect.getMetadata(OWNING_NODE, handler) as OwningNodeRoute | undefined;
        if (!route) continue;
        const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod];
        this.routes.set(`${method} ${routePath(this.config.basePath, Reflect.getMetadata(PATH_METADATA, metatype), Reflect.getMetadata(PATH_METADATA, handler))}`, route);
      }
    }
    this.adapterHost.httpAdapter.getInstance<FastifyInstance>().addHook('preHandler', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
      const route = this.routes.get(`${request.method} ${request.routeOptions.url}`);
      if (!route || isForwardedByNode(request)) return done();
      const id = fieldOf(request, route.field);
      // A missing or malformed id is the handler's to refuse.
      if (typeof id !== 'string') return done();
      this.forwardIfElsewhere(request, reply, route, id).then((forwarded) => forwarded || done(), done);
    });
  }

  /** True once the owner's answer is on its way to the client; false to serve the request here. */
  private async forwardIfElsewhere(request: FastifyRequest, reply: FastifyReply, route: OwningNodeRoute, id: string): Promise<boolean> {
    const node = await (route.owner === 'vm' ? this.owners.ofVm(id) : this.owners.ofImage(id));
    if (!node || (!node.online && route.whenOffline === 'answer-here')) return false;
    this.forwarder.assertOnline(node, `${route.owner === 'vm' ? 'VM' : 'Image'} ${id}`);
    RequestAudit.active()?.handOver();
    await this.forwarder.forward(request, reply, node);
    return true;
  }
}

/** The route as Fastify registers it: the base path, the controller's path and the handler's, joined. */
function routePath(basePath: string, controllerPath: string | string[] | undefined, handlerPath: string | string[] | undefined): string {
  const parts = [basePath, [controllerPath].flat()[0], [handlerPath].flat()[0]].map((part) => (part ?? '').replace(/^\/+|\/+$/g, '')).filter(Boolean);
  return `/${parts.join('/')}`;
}

function fieldOf(request: FastifyRequest, field: string): unknown {
  const body = request.body as Record<string, unknown> | undefined;
  if (body && typeof body === 'object' && field in body) return body[field];
  return (request.query as Record<string, unknown> | undefined)?.[field];
}
