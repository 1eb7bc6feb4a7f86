import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { Observable, Subject } from 'rxjs';
import {
  CapturedFrame,
  HostCapabilities,
  HypervisorDriver,
  HypervisorEvent,
  VmConfig,
  VmOperation,
  VmState,
} from '../hypervisor-driver';
import { isReachableAddress, leaseAddresses, unique } from '../guest-addresses';
import { HypervisorError, hypervisorError, UnsupportedError } from '../hypervisor.errors';
import { NativeEvent, NativeHypervisorBinding } from '../native/native-binding';
import { encodePng, parsePpm, RgbImage } from '../ppm';
import { RfbServerSession } from '../rfb-server';

interface PendingOperation {
  vmId: string;
  op: VmOperation;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** How long close() waits for the VMs of this driver to stop before giving up on them. */
const CLOSE_TIMEOUT_MS = 10_000;
/** The sim's remote screen sends a new frame at most this often (each capture renders one). */
const SIM_FRAME_INTERVAL_MS = 200;

/** What the driver keeps of a VM it defined. */
interface DefinedVm {
  name: string;
  /**
   * Its state as the library's events tell it: the library reports every change, and each
   * before the completion of the operation that caused it (velocity_hv.h), so this is the
   * state as of the last event handled, without a call into the library for every read (a
   * page of 50 VMs made 50 calls, each with a JSON envelope to parse).
   */
  state: VmState;
  /** Where screen dumps go. */
  directory: string;
  /** The sim's remote-screen sessions open on it, ended when it stops. */
  screens: Set<Duplex>;
}

/**
 * The driver over a native library implementing velocity_hv.h: `sim` (C, any host) and
 * `vz` (Swift, macOS) share the C interface and therefore this class.
 */
export class NativeHypervisorDriver implements HypervisorDriver {
  private readonly logger: Logger;
  private readonly events = new Subject<HypervisorEvent>();
  readonly events$: Observable<HypervisorEvent> = this.events.asObservable();
  /** Operations in flight by op_id (unique per library). */
  private readonly pending = new Map<number, PendingOperation>();
  /** The VMs this driver defined; events of other VMs in a shared library are not ours. */
  private readonly vms = new Map<string, DefinedVm>();
  private readonly stopListening: () => void;
  private lastSeq = 0;
  private closing = false;
  /**
   * Keeps the event loop alive while operations are pending: koffi delivers native-thread
   * callbacks through an unreferenced handle, so awaiting an op event alone would let
   * Node exit (or the test runner give up) before the event arrives.
   */
  private keepAlive?: NodeJS.Timeout;

  constructor(
    readonly name: 'sim' | 'vz',
    private readonly binding: NativeHypervisorBinding,
  ) {
    this.logger = new Logger(`Hypervisor:${name}`);
    this.stopListening = binding.onEvent((event) => this.handle(event));
  }

  /** Loads the library at `libraryPath` and wraps it. */
  static open(name: 'sim' | 'vz', libraryPath: string): NativeHypervisorDriver {
    return new NativeHypervisorDriver(name, NativeHypervisorBinding.load(libraryPath));
  }

  get description(): string {
    return this.binding.path;
  }

  async capabilities(): Promise<HostCapabilities> {
    return this.binding.hostCapabilities();
  }

  async create(vmId: string, config: VmConfig): Promise<void> {
    const state = this.binding.create(vmId, config);
    this.vms.set(vmId, { name: config.name, state, directory: config.directory, screens: new Set() });
  }

  start(vmId: string): Promise<void> {
    return this.operate(vmId, 'start');
  }

  pause(vmId: string): Promise<void> {
    return this.operate(vmId, 'pause');
  }

  resume(vmId: string): Promise<void> {
    return this.operate(vmId, 'resume');
  }

  requestStop(vmId: string): Promise<void> {
    return this.operate(vmId, 'request_stop');
  }

  stop(vmId: string): Promise<void> {
    return this.operate(vmId, 'stop');
  }

  state(vmId: string): VmState {
    return this.vms.get(vmId)?.state ?? this.binding.state(vmId);
  }

  async captureDisplay(vmId: string, index: number): Promise<CapturedFrame> {
    const image = await this.captureImage(vmId, index);
    return { png: await encodePng(image), width: image.width, height: image.height };
  }

  /**
   * The sim: an RFB server of its own (RfbServerSession) serving the frames the library
   * renders. vz: Virtualization.framework has no public VNC server.
   */
  async openRemoteScreen(vmId: string): Promise<Duplex> {
    if (this.name === 'vz') {
      throw new UnsupportedError('Virtualization.framework has no public VNC server: the vz driver cannot serve a remote screen (screenshots remain)');
    }
    const vm = this.defined(vmId);
    const state = this.binding.state(vmId);
    if (state !== 'RUNNING' && state !== 'PAUSED') throw new HypervisorError('INVALID_STATE', `VM ${vmId} is ${state}: a remote screen needs a running VM`);
    const session = new RfbServerSession({ name: vm.name, capture: () => this.captureImage(vmId, 0) }, { frameIntervalMs: SIM_FRAME_INTERVAL_MS });
    vm.screens.add(session);
    session.once('close', () => vm.screens.delete(session));
    return session;
  }

  private async captureImage(vmId: string, index: number): Promise<RgbImage> {
    const ppmPath = join(this.defined(vmId).directory, `.capture-${randomBytes(6).toString('hex')}.ppm`);
    try {
      this.binding.captureDisplay(vmId, index, ppmPath);
      return parsePpm(await readFile(ppmPath));
    } finally {
      await rm(ppmPath, { force: true });
    }
  }

  /**
   * What the library knows (sim: its configured addresses; vz: nothing) and, for vz, the
   * host's DHCP leases of the NICs' MACs — vmnet's NAT hands the guest its address.
   */
  async guestAddresses(vmId: string): Promise<string[]> {
    if (this.state(vmId) !== 'RUNNING') return [];
    const nics = this.binding.guestAddresses(vmId);
    const leased = this.name === 'vz' ? await leaseAddresses(nics.flatMap((n) => (n.mac ? [n.mac] : []))) : [];
    return unique([...nics.flatMap((n) => n.ip_addresses), ...leased]).filter(isReachableAddress);
  }

  private defined(vmId: string): DefinedVm {
    const vm = this.vms.get(vmId);
    if (!vm) throw new HypervisorError('NOT_FOUND', `VM ${vmId} not found`);
    return vm;
  }

  async destroy(vmId: string): Promise<void> {
    this.binding.destroy(vmId);
    this.vms.delete(vmId);
  }

  /**
   * Stops and forgets this driver's VMs (they would die with the process anyway), then
   * stops listening. Operations still pending afterwards are rejected.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const deadline = Date.now() + CLOSE_TIMEOUT_MS;
    await Promise.all([...this.vms.keys()].map((vmId) => this.forget(vmId, deadline)));
    this.stopListening();
    await this.binding.close();
    const closed = new HypervisorError('INTERNAL', `the ${this.name} driver was closed`);
    for (const [opId, pending] of this.pending) {
      this.untrack(opId);
      pending.reject(closed);
    }
    this.events.complete();
  }

  private async operate(vmId: string, op: VmOperation): Promise<void> {
    if (this.closing) throw new HypervisorError('INTERNAL', `the ${this.name} driver is closing`);
    const opId = this.binding.operate(vmId, op);
    // The op event cannot arrive before this line: events reach JS on a later turn.
    return new Promise<void>((resolve, reject) => this.track(opId, { vmId, op, resolve, reject }));
  }

  private track(opId: number, pending: PendingOperation): void {
    this.pending.set(opId, pending);
    this.keepAlive ??= setInterval(() => undefined, 1 << 30);
  }

  private untrack(opId: number): void {
    this.pending.delete(opId);
    if (this.pending.size === 0 && this.keepAlive) {
      clearInterval(this.keepAlive);
      this.keepAlive = undefined;
    }
  }

  private handle(event: NativeEvent): void {
    if (event.seq !== this.lastSeq + 1 && this.lastSeq !== 0) {
      this.logger.warn(`hypervisor events ${this.lastSeq + 1}..${event.seq - 1} were lost`);
    }
    this.lastSeq = event.seq;
    switch (event.type) {
      case 'op': {
        const pending = this.pending.get(event.op_id);
        if (!pending) return;
        this.untrack(event.op_id);
        if (event.ok) pending.resolve();
        else pending.reject(hypervisorError(event.error?.code ?? 'INTERNAL', event.error?.message ?? 'operation failed'));
        return;
      }
      case 'state': {
        const vm = this.vms.get(event.vm_id);
        if (!vm) return;
        vm.state = event.state;
        // A stopped guest has no display: the remote screens showing it end.
        if (event.state === 'STOPPED') for (const screen of vm.screens) screen.destroy();
        this.events.next({ type: 'state', vmId: event.vm_id, state: event.state, seq: event.seq });
        return;
      }
      case 'error':
        if (this.vms.has(event.vm_id)) {
          this.events.next({ type: 'error', vmId: event.vm_id, ...event.error, seq: event.seq });
        }
        return;
    }
  }

  /** Brings a VM to STOPPED (waiting out transitions) and destroys it, best effort. */
  private async forget(vmId: string, deadline: number): Promise<void> {
    let failedStops = 0;
    while (Date.now() < deadline && failedStops < 3) {
      let state: VmState;
      try {
        state = this.binding.state(vmId);
      } catch {
        this.vms.delete(vmId);
        return; // already gone
      }
      try {
        if (state === 'STOPPED') {
          this.binding.destroy(vmId);
          this.vms.delete(vmId);
          return;
        }
        if (state === 'RUNNING' || state === 'PAUSED' || state === 'STOPPING') {
          const opId = this.binding.operate(vmId, 'stop'); // STOPPING: cuts a graceful stop short
          const stopped = await new Promise<boolean>((resolve) => {
            this.track(opId, { vmId, op: 'stop', resolve: () => resolve(true), reject: () => resolve(false) });
          });
          if (!stopped) failedStops++;
          continue;
        }
      } catch {
        // refused because the state moved on: look again
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    this.logger.warn(`VM ${vmId} could not be stopped while closing the ${this.name} driver; it is left behind`);
  }
}
