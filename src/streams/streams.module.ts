import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { CatalogAccessModule } from '../catalogs/permissions/catalog-access.module';
import { AuthModule } from '../identity/auth/auth.module';
import { StreamAuthorizer } from './stream-authorizer';
import { WebSocketUpgrades } from './websocket-upgrades';

/**
 * Long-lived streams (WebSocket endpoints): how they are reached, authenticated, authorized
 * and kept authorized (LiveStreams). The modules that serve a stream (VMs: the console)
 * build on this one.
 */
@Module({
  imports: [AuthModule, CatalogAccessModule, AuditModule],
  providers: [StreamAuthorizer, WebSocketUpgrades],
  exports: [StreamAuthorizer, WebSocketUpgrades],
})
export class StreamsModule {}
