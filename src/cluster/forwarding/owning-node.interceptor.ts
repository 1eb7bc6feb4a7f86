import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { from, Observable, switchMap } from 'rxjs';
import { RequestAudit } from '../../audit/request-audit';
import { isForwardedByNode } from '../../common/http/forwarded-by-node';
import { NodeForwarder } from './node-forwarder';
import { OWNING_NODE, OwningNodeRoute } from './on-owning-node.decorator';
import { OwningNodes } from './owning-nodes';

/**
 * In a cluster, runs a handler marked @OnVmNode or @OnImageNode on the node that runs the
 * request's VM or holds its image's file: here when that is this node, else forwarded (after this node's guard has
 * authorized it, so a refusal costs no hop). A forwarded request is served where it arrives,
 * never forwarded again. The owner records the request in its audit log; this node does not.
 */
@Injectable()
export class OwningNodeInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly owners: OwningNodes,
    private readonly forwarder: NodeForwarder,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const route = this.reflector.get<OwningNodeRoute | undefined>(OWNING_NODE, context.getHandler());
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    if (!route || isForwardedByNode(request)) return next.handle();
    const id = fieldOf(request, route.field);
    // A missing or malformed id is the handler's to refuse (validation runs after interceptors).
    if (typeof id !== 'string') return next.handle();
    const audit = RequestAudit.active();
    return from(route.owner === 'vm' ? this.owners.ofVm(id) : this.owners.ofImage(id)).pipe(
      switchMap((node) => {
        if (!node || (!node.online && route.whenOffline === 'answer-here')) return next.handle();
        this.forwarder.assertOnline(node, `${route.owner === 'vm' ? 'VM' : 'Image'} ${id}`);
        audit?.handOver();
        return from(this.forwarder.forward(request, context.switchToHttp().getResponse<FastifyReply>(), node));
      }),
    );
  }
}

function fieldOf(request: FastifyRequest, field: string): unknown {
  const body = request.body as Record<string, unknown> | undefined;
  if (body && typeof body === 'object' && field in body) return body[field];
  return (request.query as Record<string, unknown> | undefined)?.[field];
}
