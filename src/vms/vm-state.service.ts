import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { setTimeout as delay } from 'node:timers/promises';
import { filter, firstValueFrom, Subscription, timeout } from 'rxjs';
import { AppConfig } from '../config/app-config';
import { VmState } from '../hypervisor/hypervisor-driver';
import { HypervisorService } from '../hypervisor/hypervisor.service';
import { NodesService } from '../nodes/nodes.service';
import { VmChangeRecorder } from './events/vm-change-recorder';
import { VmStateCauses } from './events/vm-state-causes';
import { apiErrorOf, stateChangeNotAllowed } from './hypervisor-failures';
import { VmLocks } from './vm-locks';
import { planStateChange, RequestableState } from './vm-state-plan';
import { VmsRepository } from './vms.repository';
import { VmsService } from './vms.service';

export interface StateChangeResult {
  /** 200 when a transition ran, 208 when the VM already was in the requested state. */
  status: 200 | 208;
  state: VmState;
}

/**
 * State changes of VMs, serialized per VM, and the record of every state the hypervisor
 * reports, so the database follows the driver.
 */
@Injectable()
export class VmStateService implements OnModuleInit, OnModuleDestroy {
  private subscription?: Subscription;
  /** How long a graceful stop may take before the request answers 200 with STOPPING. */
  private readonly gracefulStopMs: number;

  constructor(
    private readonly hypervisor: HypervisorService,
    private readonly locks: VmLocks,
    private readonly vms: VmsService,
    private readonly repository: VmsRepository,
    private readonly causes: VmStateCauses,
    private readonly recorder: VmChangeRecorder,
    private readonly nodes: NodesService,
    config: AppConfig,
  ) {
    this.gracefulStopMs = config.gracefulStopSeconds * 1000;
  }

  onModuleInit(): void {
    // A failed write is logged by the recorder; nobody waits for these.
    this.subscription = this.hypervisor.events$.subscribe((event) => this.causes.attribute(event, (change) => void this.recorder.record(change).catch(() => undefined)));
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
  }

  /** The VM's true state as the driver reports it. */
  current(vmid: string, recorded: VmState): VmState {
    return this.hypervisor.stateIfDefined(vmid) ?? recorded;
  }

  /** The same, reading the recorded state only when the driver does not know the VM. */
  async stateOf(vmid: string): Promise<VmState> {
    return this.hypervisor.stateIfDefined(vmid) ?? this.repository.recordedState(vmid);
  }

  request(vmid: string, requested: RequestableState, force: boolean): Promise<StateChangeResult> {
    return this.locks.run(vmid, async () => {
      // Only the VM's own node drives it. Checked under the lock, after any move before it:
      // a request forwarded here just as the VM moved away is refused, not carried out twice.
      await this.nodes.assertRunsHereNow(vmid);
      // A VM the driver could not define at start (a missing file, a host-side socket not
      // yet there) is defined now, so fixing the cause is enough to make it usable.
      if (!this.hypervisor.knows(vmid)) await this.vms.defineInDriver(await this.vms.get(vmid));
      const current = this.hypervisor.state(vmid);
      if (current === requested) return { status: 208, state: current };
      const action = planStateChange(current, requested, force);
      if (!action) throw stateChangeNotAllowed(vmid, requested, current);
      try {
        // What the driver reports while it carries out the request is the request's doing.
        await this.causes.during(vmid, 'request', () => (action === 'requestStop' ? this.requestStop(vmid) : this.hypervisor[action](vmid)));
      } catch (error) {
        const state = this.hypervisor.state(vmid);
        const failure = apiErrorOf(error, { vmid, action, state, requested });
        const lastError = error instanceof Error ? error.message : String(error);
        if (failure.code !== 'STATE_CHANGE_NOT_ALLOWED') await this.recorder.record({ vmid, state, lastError, cause: 'request' });
        throw failure;
      }
      const state = this.hypervisor.state(vmid);
      await this.recorder.record({ vmid, state, cause: 'request' });
      return { status: 200, state };
    });
  }

  /**
   * Asks the guest to shut down and waits at most the graceful-stop bound for STOPPED.
   * Drivers differ in when the request itself resolves (qemu: once ACPI is delivered; sim
   * and vz: once the guest has stopped, which may be never), so the wait is bounded here
   * rather than by the driver; a later outcome shows in the state events.
   */
  private async requestStop(vmid: string): Promise<void> {
    const deadline = Date.now() + this.gracefulStopMs;
    const request = this.hypervisor.requestStop(vmid);
    request.catch(() => undefined); // a failure after the bound (e.g. superseded by a forced stop)
    const bound = new AbortController();
    try {
      await Promise.race([request, delay(this.gracefulStopMs, undefined, { signal: bound.signal }).catch(() => undefined)]);
    } finally {
      bound.abort();
    }
    await this.waitFor(vmid, 'STOPPED', Math.max(0, deadline - Date.now()));
  }

  /** Resolves when the VM reaches `state` or after `ms`, whichever is first. */
  private async waitFor(vmid: string, state: VmState, ms: number): Promise<void> {
    if (this.hypervisor.state(vmid) === state) return;
    await firstValueFrom(
      this.hypervisor.events$.pipe(
        filter((e) => e.vmId === vmid && e.type === 'state' && e.state === state),
        timeout({ first: ms }),
      ),
    ).catch(() => undefined);
  }
}
