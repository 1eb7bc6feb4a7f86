import { Module } from '@nestjs/common';
import { HypervisorService } from './hypervisor.service';

/** The hypervisor layer; AppConfig comes from the global ConfigModule. */
@Module({
  providers: [HypervisorService],
  exports: [HypervisorService],
})
export class HypervisorModule {}
