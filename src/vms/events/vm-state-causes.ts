import { Injectable, OnModuleDestroy } from '@nestjs/common';
import type { HypervisorEvent, VmState } from '../../hypervisor/hypervisor-driver';
import { HypervisorService } from '../../hypervisor/hypervisor.service';
import { VmEventCause } from './vm-event';

/** What a driver event changes in a VM's record, and why. */
export interface CausedChange {
  vmid: string;
  state?: VmState;
  lastError?: string;
  cause: VmEventCause;
}

export type CausedChangeSink = (change: CausedChange) => void;

const TRANSITIONAL: ReadonlySet<VmState> = new Set<VmState>(['STARTING', 'PAUSING', 'RESUMING', 'STOPPING']);

/**
 * How long a state change nobody asked for waits for the driver's error report. Drivers
 * report a VM that stops with an error as STOPPED followed by an `error` event (velocity_hv.h;
 * the qemu driver the same): qemu emits both in one turn, the native library from its own
 * thread one callback after the other, which may reach JS a turn apart.
 */
export const FAILURE_REPORT_GRACE_MS = 100;

interface HeldChange {
  change: CausedChange;
  sink: CausedChangeSink;
  timer: NodeJS.Timeout;
}

/**
 * Tells apart why a VM changed state. An operation of the server's own (a state request, a
 * forced delete, reconciliation at start) runs inside `during`, which marks the VM while the
 * operation holds its lock: every driver event in that time has the operation's cause. A
 * graceful stop that answers STOPPING keeps the mark until the VM settles. Anything else is
 * the guest's doing — or a crash, when the driver reports an error right after it.
 */
@Injectable()
export class VmStateCauses implements OnModuleDestroy {
  /** VMs inside an operation of the server's, with its cause. */
  private readonly operations = new Map<string, VmEventCause>();
  /** VMs whose requested transition went on after its request answered (a graceful stop past the bound). */
  private readonly finishing = new Map<string, VmEventCause>();
  /** A change nobody asked for, per VM, waiting FAILURE_REPORT_GRACE_MS for an error report. */
  private readonly held = new Map<string, HeldChange>();

  constructor(private readonly hypervisor: HypervisorService) {}

  onModuleDestroy(): void {
    for (const vmid of [...this.held.keys()]) this.release(vmid);
  }

  /** Runs `work` (under the VM's lock) with the VM's driver events attributed to `cause`. */
  async during<T>(vmid: string, cause: 'request' | 'reconcile', work: () => Promise<T>): Promise<T> {
    // What the guest did before this operation is reported before what the operation does.
    this.release(vmid);
    this.finishing.delete(vmid);
    const outer = this.operations.get(vmid);
    this.operations.set(vmid, cause);
    try {
      return await work();
    } finally {
      if (outer) {
        this.operations.set(vmid, outer);
      } else {
        this.operations.delete(vmid);
        const state = this.hypervisor.stateIfDefined(vmid);
        if (state && TRANSITIONAL.has(state)) this.finishing.set(vmid, cause);
      }
    }
  }

  /** Passes the change a driver event makes to `sink`, with its cause, in the order of the VM's events. */
  attribute(event: HypervisorEvent, sink: CausedChangeSink): void {
    const vmid = event.vmId;
    const requested = this.operations.get(vmid) ?? this.finishing.get(vmid);
    if (event.type === 'error') {
      const held = this.take(vmid);
      if (held) sink({ ...held.change, lastError: event.message, cause: 'crash' });
      else sink({ vmid, lastError: event.message, cause: requested ?? 'crash' });
      return;
    }
    if (requested) {
      if (!TRANSITIONAL.has(event.state)) this.finishing.delete(vmid);
      sink({ vmid, state: event.state, cause: requested });
      return;
    }
    this.release(vmid);
    const timer = setTimeout(() => this.release(vmid), FAILURE_REPORT_GRACE_MS);
    this.held.set(vmid, { change: { vmid, state: event.state, cause: 'guest' }, sink, timer });
  }

  /** Passes on the VM's held change as the guest's: no error report came. */
  private release(vmid: string): void {
    const held = this.take(vmid);
    held?.sink(held.change);
  }

  private take(vmid: string): HeldChange | undefined {
    const held = this.held.get(vmid);
    if (!held) return undefined;
    clearTimeout(held.timer);
    this.held.delete(vmid);
    return held;
  }
}
