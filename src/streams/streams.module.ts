import { Module } from '@nestjs/common';
import { CatalogAccessModule } from '../catalogs/permissions/catalog-access.module';
import { AuthModule } from '../identity/auth/auth.module';
import { WebSocketUpgrades } from './websocket-upgrades';

/**
 * Long-lived streams (WebSocket endpoints): how they are reached, authenticated and
 * authorized. The modules that serve a stream (VMs: the console) build on this one.
 */
@Module({
  imports: [AuthModule, CatalogAccessModule],
  providers: [WebSocketUpgrades],
  exports: [WebSocketUpgrades],
})
export class StreamsModule {}
