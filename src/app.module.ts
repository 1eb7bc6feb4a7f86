import { DynamicModule, Module } from '@nestjs/common';
import { AuditModule } from './audit/audit.module';
import { CatalogsModule } from './catalogs/catalogs.module';
import { ClusterModule } from './cluster/cluster.module';
import { CommonModule } from './common/common.module';
import { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { HealthModule } from './health/health.module';
import { AuthModule } from './identity/auth/auth.module';
import { IdentityModule } from './identity/identity.module';
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
        ResourcesModule,
        VmsModule,
        HealthModule,
        AuditModule,
        ClusterModule,
      ],
    };
  }
}
