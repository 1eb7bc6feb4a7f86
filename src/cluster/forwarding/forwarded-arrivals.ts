import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { markForwardedByNode } from '../../common/http/forwarded-by-node';
import { CLIENT_ADDRESS_HEADER, NODE_CREDENTIAL_HEADER, NodeForwarder } from './node-forwarder';

/**
 * Recognises the requests another node forwarded here by the cluster's credential. Only those
 * are served here whatever this node's own view of where their VM lives, and only their
 * client-address header is believed; from anyone else both headers are ignored.
 */
@Injectable()
export class ForwardedArrivals implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly forwarder: NodeForwarder,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.addHook('onRequest', (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
      if (request.headers[NODE_CREDENTIAL_HEADER] !== undefined && this.forwarder.isFromNode(request.headers)) {
        const address = request.headers[CLIENT_ADDRESS_HEADER];
        markForwardedByNode(request, typeof address === 'string' ? address.slice(0, 64) : undefined);
      }
      done();
    });
  }
}
