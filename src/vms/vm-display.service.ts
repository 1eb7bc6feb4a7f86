import { Injectable } from '@nestjs/common';
import { ApiError } from '../common/errors/api-error';
import { HypervisorService } from '../hypervisor/hypervisor.service';
import { apiErrorOf } from './hypervisor-failures';
import { VmsService } from './vms.service';

/** A VM's displays: screenshots where the driver can capture frames. */
@Injectable()
export class VmDisplayService {
  constructor(
    private readonly vms: VmsService,
    private readonly hypervisor: HypervisorService,
  ) {}

  /** A PNG of display `display` of a running (or paused) VM. */
  async screenshot(vmid: string, display: number): Promise<Buffer> {
    const { vm } = await this.vms.get(vmid);
    if (!this.hypervisor.capabilities.screenshots) {
      throw new ApiError('UNSUPPORTED_ON_HOST', `The ${this.hypervisor.driverName} driver cannot capture display frames on this host`);
    }
    if (display >= vm.displays.length) {
      throw new ApiError('VALIDATION_FAILED', `Invalid request: display: the VM has ${vm.displays.length} display(s)`);
    }
    const state = this.vms.driverState(vmid);
    if (state !== 'RUNNING' && state !== 'PAUSED') throw new ApiError('VM_NOT_RUNNING', `The VM is ${state}; only a running VM has a frame to capture`);
    try {
      return (await this.hypervisor.captureDisplay(vmid, display)).png;
    } catch (error) {
      throw apiErrorOf(error, { vmid, action: 'capture a screenshot of', state: this.vms.driverState(vmid) });
    }
  }
}
