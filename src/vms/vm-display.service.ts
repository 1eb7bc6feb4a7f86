import { Injectable } from '@nestjs/common';
import type { Duplex } from 'node:stream';
import { ApiError } from '../common/errors/api-error';
import { HypervisorError } from '../hypervisor/hypervisor.errors';
import { HypervisorService } from '../hypervisor/hypervisor.service';
import { apiErrorOf } from './hypervisor-failures';
import { VmsService } from './vms.service';

/** A VM's displays: screenshots where the driver can capture frames, and the remote screen (RFB). */
@Injectable()
export class VmDisplayService {
  constructor(
    private readonly vms: VmsService,
    private readonly hypervisor: HypervisorService,
  ) {}

  /** A PNG of display `display` of a running (or paused) VM. */
  async screenshot(vmid: string, display: number): Promise<Buffer> {
    const { vm } = await this.vms.view(vmid);
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

  /**
   * A new connection speaking RFB to the VM's first display (see HypervisorDriver.openRemoteScreen).
   * The driver judges whether it can serve one (the vz driver never can) before looking at the
   * VM's state, so the host's limit is what a vz client hears, whatever the state.
   */
  async openRemoteScreen(vmid: string): Promise<Duplex> {
    const { vm } = await this.vms.view(vmid);
    if (vm.displays.length === 0) throw new ApiError('VALIDATION_FAILED', 'Invalid request: vmid: the VM has no display to show');
    try {
      return await this.hypervisor.openRemoteScreen(vmid);
    } catch (error) {
      const state = this.vms.driverState(vmid);
      if (error instanceof HypervisorError && (error.code === 'INVALID_STATE' || error.code === 'NOT_FOUND')) {
        throw new ApiError('VM_NOT_RUNNING', `The VM is ${state}; only a running (or paused) VM has a screen to show`);
      }
      throw apiErrorOf(error, { vmid, action: 'open the remote screen of', state });
    }
  }
}
