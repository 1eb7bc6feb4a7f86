import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { mapConcurrently } from '../common/concurrency';
import { HypervisorService } from '../hypervisor/hypervisor.service';
import { NodesService } from '../nodes/nodes.service';
import { VmChangeRecorder } from './events/vm-change-recorder';
import { VmStateCauses } from './events/vm-state-causes';
import { VmFiles } from './vm-files';
import { VmStateService } from './vm-state.service';
import { VmsRepository } from './vms.repository';
import { VmsService } from './vms.service';

/**
 * At start: VM directories no row of this node names are removed, every stored VM of this node (the
 * others are their nodes' to drive) is defined in the driver, its recorded state reconciled with
 * what the driver reports (a QEMU process that outlived the server is re-attached), and
 * autostart VMs are started.
 */
/** VMs defined at once at start. */
const DEFINE_CONCURRENCY = 16;

@Injectable()
export class VmReconciliationService implements OnApplicationBootstrap {
  private readonly logger = new Logger('VmReconciliation');

  constructor(
    private readonly repository: VmsRepository,
    private readonly vms: VmsService,
    private readonly states: VmStateService,
    private readonly hypervisor: HypervisorService,
    private readonly files: VmFiles,
    private readonly causes: VmStateCauses,
    private readonly recorder: VmChangeRecorder,
    private readonly nodes: NodesService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const records = (await this.repository.all()).filter((r) => this.nodes.isLocal(r.vm.node));
    await this.files.removeAllBut(records.map((r) => r.vm.vmid));
    const autostart: string[] = [];
    // Defining is mostly waiting on files (the VM's directory and console FIFO), so VMs are
    // defined several at a time; what follows goes in the records' order.
    const definitionErrors = await mapConcurrently(records, DEFINE_CONCURRENCY, async (record) => {
      try {
        // A re-attached QEMU reports its state while being defined: that is what reconciliation found.
        await this.causes.during(record.vm.vmid, 'reconcile', () => this.vms.defineInDriver(record));
        return undefined;
      } catch (error) {
        return `could not be defined in the ${this.hypervisor.driverName} driver at start: ${(error as Error).message}`;
      }
    });
    // Only what differs from the record is written, in a few batched transactions (the
    // recorder joins changes that wait for their turn): one commit per VM made a start with
    // 10,000 VMs take seconds.
    const written: Array<Promise<void>> = [];
    for (const [i, record] of records.entries()) {
      const { vmid, name } = record.vm;
      const lastError = definitionErrors[i];
      if (lastError) this.logger.error(`VM ${name} (${vmid}) ${lastError}`);
      const state = this.vms.driverState(vmid);
      if (state !== record.vm.state) this.logger.log(`VM ${name} (${vmid}): recorded ${record.vm.state}, driver reports ${state}`);
      if (state !== record.vm.state || lastError) written.push(this.recorder.record({ vmid, state, ...(lastError ? { lastError } : {}), cause: 'reconcile' }));
      if (record.vm.autostart && state === 'STOPPED' && this.hypervisor.knows(vmid)) autostart.push(vmid);
    }
    await Promise.all(written);
    // Autostart runs in the background: the server answers (and reports STARTING) meanwhile.
    for (const vmid of autostart) {
      this.states.request(vmid, 'RUNNING', false).catch((error: Error) => this.logger.error(`autostart of VM ${vmid} failed: ${error.message}`));
    }
    if (records.length) this.logger.log(`${records.length} VM(s) reconciled, ${autostart.length} autostarting`);
  }
}
