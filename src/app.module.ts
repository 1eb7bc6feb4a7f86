import { DynamicModule, Module } from '@nestjs/common';
import { AuditModule } from './audit/audit.module';
import { CatalogsModule } from './catalogs/catalogs.module';
import { ClusterModule } from './cluster/cluster.module';
import { ForwardingModule } from './cluster/forwarding/forwarding.module';
import { CommonModule } from './common/common.module';
import { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { HealthModule } from './health/health.module';
import { AuthModule } from './identity/auth/auth.module';
import { IdentityModule } from './identity/identity.module';
import { NodesModule } from './nodes/nodes.module';
import { QuotasModule } from './quotas/quotas.module';
import { ResourcesModule } from './resources/resources.module';
import { VmsModule } from './vms/vms.module';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        CommonModule,
        DatabaseModule,
        AuthModule,
        IdentityModule,
        CatalogsModule,
        QuotasModule,
        NodesModule,
        ResourcesModule,
        VmsModule,
        HealthModule,
        AuditModule,
        ClusterModule,
        // Forwarding to the VMs' own nodes: a single server has no other node, and no hook.
        ...(config.databaseUrl ? [ForwardingModule] : []),
      ],
    };
  }
}
