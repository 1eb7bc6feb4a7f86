import { Module } from '@nestjs/common';
import { HypervisorModule } from '../hypervisor/hypervisor.module';
import { HealthController } from './health.controller';

@Module({ imports: [HypervisorModule], controllers: [HealthController] })
export class HealthModule {}
