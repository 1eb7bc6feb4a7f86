import { Global, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { NodesModule } from '../../nodes/nodes.module';
import { ClusterCredentialEntity } from './cluster-credential.entity';
import { ForwardedArrivals } from './forwarded-arrivals';
import { NodeCredential } from './node-credential.service';
import { NodeForwarder } from './node-forwarder';
import { OwningNodeInterceptor } from './owning-node.interceptor';

/**
 * Forwarding between the nodes of a cluster; imported only when Velocity runs on PostgreSQL,
 * so a single host neither registers the interceptor nor pays for it. Global: the WebSocket
 * router finds the forwarder when it is there.
 */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([ClusterCredentialEntity]), NodesModule],
  providers: [NodeCredential, NodeForwarder, ForwardedArrivals, { provide: APP_INTERCEPTOR, useClass: OwningNodeInterceptor }],
  exports: [NodeForwarder, NodesModule],
})
export class ForwardingModule {}
