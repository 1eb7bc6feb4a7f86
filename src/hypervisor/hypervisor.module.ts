import { FactoryProvider, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { HYPERVISOR_DRIVER, openDriver } from './driver-selection';
import { HypervisorDriver } from './hypervisor-driver';
import { HypervisorService } from './hypervisor.service';

/** Opens the driver once, when the module is instantiated; HypervisorService closes it. */
const driverProvider: FactoryProvider<HypervisorDriver> = {
  provide: HYPERVISOR_DRIVER,
  inject: [AppConfig],
  useFactory: (config: AppConfig) => openDriver(config),
};

/** The hypervisor layer; AppConfig comes from the global ConfigModule. */
@Module({
  providers: [driverProvider, HypervisorService],
  exports: [HypervisorService],
})
export class HypervisorModule {}
