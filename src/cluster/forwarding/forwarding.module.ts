import { Global, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { NodesModule } from '../../nodes/nodes.module';
import { ResourcesModule } from '../../resources/resources.module';
import { VmsRepositoryModule } from '../../vms/vms-repository.module';
import { ClusterOwners } from './cluster-owners';
import { OwningNodes } from './owning-nodes';
import { ClusterCredentialEntity } from './cluster-credential.entity';
import { ForwardedArrivals } from './forwarded-arrivals';
import { NodeCredential } from './node-credential.service';
import { NodeForwarder } from './node-forwarder';
import { ForwardingHook } from './forwarding-hook';

/**
 * Forwarding between the nodes of a cluster; imported only when Velocity runs on PostgreSQL,
 * so a single host neither registers the hook nor pays for it. Global: the WebSocket
 * router finds the forwarder when it is there.
 */
@Global()
@Module({
  imports: [DiscoveryModule, TypeOrmModule.forFeature([ClusterCredentialEntity]), NodesModule, ResourcesModule, VmsRepositoryModule],
  providers: [NodeCredential, NodeForwarder, ForwardedArrivals, { provide: OwningNodes, useClass: ClusterOwners }, ForwardingHook],
  exports: [NodeForwarder, OwningNodes],
})
export class ForwardingModule {}
