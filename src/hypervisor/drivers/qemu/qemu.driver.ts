import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { connect, Socket } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Observable, Subject } from 'rxjs';
import { QemuAccel } from '../../../config/app-config';
import {
  Accelerator,
  CapturedFrame,
  HostCapabilities,
  HypervisorDriver,
  HypervisorEvent,
  VmConfig,
  VmOperation,
  VmState,
} from '../../hypervisor-driver';
import { neighbourAddresses, unique } from '../../guest-addresses';
import { DriverUnavailableError, HypervisorError, UnsupportedError } from '../../hypervisor.errors';
import { readPpmFileAsPng } from '../../ppm';
import { chooseAccelerator, KvmProbeOptions } from './qemu-accel';
import { AGENT_CHARDEV, buildQemuArgs, macFor } from './qemu-command';
import { QemuLimits, validateVmConfig } from './qemu-config';
import { QemuVmFiles, vmFiles } from './qemu-files';
import { agentAddresses } from './qemu-guest-addresses';
import { detectQemu, listBridgeInterfaces, QemuInstallation } from './qemu-host';
import { QemuExit, QemuInstance, QemuInstanceListener, QemuInstanceTimings, QemuLaunch } from './qemu-instance';
import { assertHostPortsFree } from './qemu-port-forwards';
import { readTail } from './qemu-process';
import { QmpConnectionError } from './qmp-client';

/**
 * The `qemu` driver: one qemu-system-<arch> process per VM, controlled over QMP. Each
 * process is a QemuInstance (spawn or re-attach, console, QMP events, its end); this class
 * keeps the VMs' state machine on top: which operation is in progress, the state events,
 * and who waits for a forced stop.
 *
 * Processes outlive the server: close() only lets go of them, and create() of a VM whose
 * QEMU is still running re-attaches to it and reports its real state. A process ending
 * without being asked to (killed, crashed) gives STOPPED followed by an 'error' event with
 * the exit status and the last lines of QEMU's stderr (kept in <dir>/qemu-stderr.log).
 */

export interface QemuDriverOptions {
  /** VELOCITY_QEMU_ACCEL. Default auto. */
  accel?: QemuAccel;
  /** Binary and firmware; default: detected on this host. */
  installation?: QemuInstallation;
  kvmProbe?: KvmProbeOptions;
  /** Bound for QEMU to come up and answer on QMP at start(). Default 30 s. */
  startTimeoutMs?: number;
  /** Bound for a still running QEMU to answer on QMP when create() re-attaches. Default 5 s. */
  attachTimeoutMs?: number;
  /** After QMP `quit` (or a lost QMP connection), how long until SIGKILL. Default 5 s. */
  stopGraceMs?: number;
  /** After SIGKILL to a re-attached QEMU, how long to wait for it to be gone. Default 5 s. */
  killWaitMs?: number;
  /** Bound for each QMP command. Default 10 s. */
  commandTimeoutMs?: number;
  /** Where bridges are looked up (tests). Default /sys/class/net. */
  sysClassNet?: string;
  /** Bound for the guest agent to answer guestAddresses(). Default 1 s. */
  agentTimeoutMs?: number;
}

export interface QemuHostCapabilities extends HostCapabilities {
  driver: 'qemu';
  accelerator: Accelerator;
}

/** A forced stop waiting for the process to be gone. */
interface StopWaiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

interface QemuVm {
  id: string;
  config: VmConfig;
  files: QemuVmFiles;
  state: VmState;
  /** The VM's QEMU process while there is one. */
  instance?: QemuInstance;
  /** The operation in progress (start, pause, resume, stop); request_stop returns at once and is not one. */
  busy?: VmOperation;
  stopWaiters: StopWaiter[];
  /** A guest agent query under way: the agent's socket takes one client at a time, so callers share it. */
  agentQuery?: Promise<string[]>;
}

const MIN_MEMORY_MB = 128;
const MAX_DISPLAY_WIDTH = 3840;
const MAX_DISPLAY_HEIGHT = 2160;
const STDERR_LINES_IN_ERRORS = 5;
const DEFAULT_TIMINGS: QemuInstanceTimings = {
  startTimeoutMs: 30_000,
  attachTimeoutMs: 5_000,
  commandTimeoutMs: 10_000,
  stopGraceMs: 5_000,
  killWaitMs: 5_000,
};

/** QMP query-status → the API's states (transitional states are the driver's own). */
function stateOfStatus(status: string): VmState {
  // suspended: the guest is in S3 but its VM runs (a wakeup resumes it).
  return status === 'running' || status === 'suspended' ? 'RUNNING' : 'PAUSED';
}

/** Run states in which QEMU stopped the guest because something went wrong. */
const FAULT_STATUSES = new Set(['internal-error', 'io-error', 'guest-panicked', 'watchdog', 'shutdown']);

export class QemuDriver implements HypervisorDriver {
  readonly name = 'qemu' as const;
  private readonly logger = new Logger('Hypervisor:qemu');
  private readonly events = new Subject<HypervisorEvent>();
  readonly events$: Observable<HypervisorEvent> = this.events.asObservable();
  private readonly vms = new Map<string, QemuVm>();
  private readonly timings: QemuInstanceTimings;
  private readonly sysClassNet: string;
  private readonly agentTimeoutMs: number;
  private seq = 0;
  private closing = false;

  private constructor(
    readonly installation: QemuInstallation,
    /** The accelerator every VM of this driver runs under. */
    readonly accelerator: Accelerator,
    /** Why that accelerator (VELOCITY_QEMU_ACCEL, or the probe's finding). */
    private readonly acceleratorReason: string,
    options: QemuDriverOptions,
  ) {
    this.timings = {
      startTimeoutMs: options.startTimeoutMs ?? DEFAULT_TIMINGS.startTimeoutMs,
      attachTimeoutMs: options.attachTimeoutMs ?? DEFAULT_TIMINGS.attachTimeoutMs,
      commandTimeoutMs: options.commandTimeoutMs ?? DEFAULT_TIMINGS.commandTimeoutMs,
      stopGraceMs: options.stopGraceMs ?? DEFAULT_TIMINGS.stopGraceMs,
      killWaitMs: options.killWaitMs ?? DEFAULT_TIMINGS.killWaitMs,
    };
    this.sysClassNet = options.sysClassNet ?? '/sys/class/net';
    this.agentTimeoutMs = options.agentTimeoutMs ?? 1_000;
  }

  /**
   * Finds QEMU (unless given), picks the accelerator (with `auto`, by running a short KVM
   * probe VM) and returns the driver. Throws DriverUnavailableError when QEMU is not
   * installed or `kvm` was asked for and /dev/kvm is not usable.
   */
  static async open(options: QemuDriverOptions = {}): Promise<QemuDriver> {
    let installation = options.installation;
    if (!installation) {
      const detected = detectQemu();
      if (!detected.available) throw new DriverUnavailableError(`the qemu driver cannot run: ${detected.reason}`);
      installation = detected.installation;
    }
    const choice = await chooseAccelerator(options.accel ?? 'auto', installation, options.kvmProbe);
    return new QemuDriver(installation, choice.accelerator, choice.reason, options);
  }

  get description(): string {
    return `${this.installation.binary}, ${this.accelerator.toUpperCase()}: ${this.acceleratorReason}`;
  }

  async capabilities(): Promise<QemuHostCapabilities> {
    return {
      driver: 'qemu',
      max_cpu_count: cpus().length,
      max_memory_mb: Math.floor(totalmem() / (1024 * 1024)),
      min_memory_mb: MIN_MEMORY_MB,
      max_display_width: MAX_DISPLAY_WIDTH,
      max_display_height: MAX_DISPLAY_HEIGHT,
      bridge_interfaces: listBridgeInterfaces(this.sysClassNet),
      rosetta: false,
      macos_guests: false,
      screenshots: true,
      vm_types: this.installation.firmware ? ['EFI', 'KBOOT'] : ['KBOOT'],
      accelerator: this.accelerator,
    };
  }

  /**
   * Defines a VM. When its QEMU process is still running (the server restarted), attaches
   * to it instead: the VM is then RUNNING or PAUSED, as QEMU says.
   */
  async create(vmId: string, config: VmConfig): Promise<void> {
    this.assertOpen();
    if (this.vms.has(vmId)) throw new HypervisorError('ALREADY_EXISTS', `VM ${vmId} already exists`);
    const limits = await this.limits();
    validateVmConfig(config, limits, { images: false, runtime: false });
    const files = vmFiles(config.directory);
    const running = await QemuInstance.findRunning(files);
    if (running === undefined) validateVmConfig(config, limits, { images: true, runtime: false });
    if (this.vms.has(vmId)) throw new HypervisorError('ALREADY_EXISTS', `VM ${vmId} already exists`);
    const vm: QemuVm = { id: vmId, config, files, state: 'STOPPED', stopWaiters: [] };
    if (running !== undefined) {
      const { instance, status } = await QemuInstance.attach(vm, running, this.listenerFor(vm), this.timings);
      vm.instance = instance;
      vm.state = stateOfStatus(status);
    }
    this.vms.set(vmId, vm);
    if (config.rosetta) this.logger.log(`VM ${vmId}: Rosetta is not available with the qemu driver: the VM runs without it`);
    if (vm.instance) this.emitState(vm);
  }

  /** The pid of the VM's QEMU process while there is one. */
  pid(vmId: string): number | undefined {
    return this.vm(vmId).instance?.pid;
  }

  state(vmId: string): VmState {
    return this.vm(vmId).state;
  }

  async start(vmId: string): Promise<void> {
    this.assertOpen();
    const vm = this.vm(vmId);
    this.assertState(vm, 'start', ['STOPPED']);
    validateVmConfig(vm.config, await this.limits(), { images: true, runtime: true });
    await assertHostPortsFree(vm.config.port_forwards ?? []);
    this.assertState(vm, 'start', ['STOPPED']); // the awaits above let other calls in
    vm.busy = 'start';
    this.setState(vm, 'STARTING');
    let instance: QemuInstance | undefined;
    try {
      instance = vm.instance = await QemuInstance.launch(vm, this.launchOf(vm), this.listenerFor(vm), this.timings);
      await instance.boot();
    } catch (err) {
      const detail = await this.abortStart(vm, instance, err as Error);
      throw new HypervisorError('HYPERVISOR_ERROR', `QEMU did not start: ${detail}`);
    }
    vm.busy = undefined;
    this.setState(vm, 'RUNNING');
  }

  async pause(vmId: string): Promise<void> {
    await this.transition(vmId, 'pause', 'RUNNING', 'PAUSING', 'stop', 'PAUSED');
  }

  async resume(vmId: string): Promise<void> {
    await this.transition(vmId, 'resume', 'PAUSED', 'RESUMING', 'cont', 'RUNNING');
  }

  /**
   * Graceful stop: the ACPI power button (QMP system_powerdown). Resolves as soon as QEMU
   * has taken the request, with the VM STOPPING; STOPPED follows on events$ when the guest
   * has powered off — which may take long, or never come (a guest without ACPI handling,
   * such as the UEFI shell): the server bounds its wait and may cut it short with stop().
   * (The native sim and vz libraries complete request_stop only at STOPPED.)
   */
  async requestStop(vmId: string): Promise<void> {
    this.assertOpen();
    const vm = this.vm(vmId);
    this.assertState(vm, 'request_stop', ['RUNNING']);
    const instance = this.live(vm);
    this.setState(vm, 'STOPPING');
    try {
      await instance.execute('system_powerdown');
    } catch (err) {
      if (err instanceof QmpConnectionError) {
        await instance.gone; // QEMU went away meanwhile: the VM is STOPPED, which is what was asked
        return;
      }
      if (!instance.exited && vm.state === 'STOPPING' && !vm.busy) this.setState(vm, 'RUNNING');
      throw new HypervisorError('HYPERVISOR_ERROR', `request stop failed: ${(err as Error).message}`);
    }
  }

  /** Forced stop: QMP quit, SIGKILL when QEMU is not gone after the grace period. */
  async stop(vmId: string): Promise<void> {
    this.assertOpen();
    const vm = this.vm(vmId);
    if (vm.busy === 'stop') return this.waitForStop(vm);
    this.assertState(vm, 'stop', ['RUNNING', 'PAUSED', 'STOPPING']);
    const instance = this.live(vm);
    vm.busy = 'stop';
    const stopped = this.waitForStop(vm);
    this.setState(vm, 'STOPPING');
    instance.quit();
    return stopped;
  }

  async captureDisplay(vmId: string, index: number): Promise<CapturedFrame> {
    const vm = this.vm(vmId);
    const count = vm.config.displays.length;
    if (!Number.isInteger(index) || index < 0 || index >= count) {
      throw new HypervisorError(
        'INVALID_ARGUMENT',
        count === 0 ? `VM ${vmId} has no displays` : `VM ${vmId} has no display ${index} (it has ${count})`,
      );
    }
    const instance = vm.instance;
    if (!instance || vm.state === 'STOPPED' || vm.state === 'STARTING') {
      throw new HypervisorError('INVALID_STATE', `VM ${vmId} is ${vm.state}: a screenshot needs a running VM`);
    }
    const ppm = join(vm.config.directory, `.screendump-${randomBytes(6).toString('hex')}.ppm`);
    try {
      await instance.execute('screendump', { filename: ppm, device: `gpu${index}` });
      return await readPpmFileAsPng(ppm);
    } catch (err) {
      if (err instanceof HypervisorError) throw err;
      throw new HypervisorError('HYPERVISOR_ERROR', `screenshot of display ${index} failed: ${(err as Error).message}`);
    } finally {
      await rm(ppm, { force: true });
    }
  }

  /**
   * From the guest agent (only once the guest has opened its port, so a guest without one
   * costs one QMP round trip, not a timeout) and, for BRIDGE NICs, the host's neighbour table.
   */
  async guestAddresses(vmId: string): Promise<string[]> {
    const vm = this.vm(vmId);
    const instance = vm.instance;
    if (vm.state !== 'RUNNING' || !instance) return [];
    const macs = vm.config.nics.map((nic, i) => macFor(vmId, i, nic));
    const bridged = macs.filter((_, i) => vm.config.nics[i].type === 'BRIDGE');
    vm.agentQuery ??= agentAddresses(instance, vm.files.agentSocket, AGENT_CHARDEV, macs, this.agentTimeoutMs).finally(() => {
      vm.agentQuery = undefined;
    });
    const [fromAgent, fromNeighbours] = await Promise.all([vm.agentQuery, neighbourAddresses(bridged)]);
    return unique([...fromAgent, ...fromNeighbours]);
  }

  /**
   * A new connection to QEMU's VNC server (-vnc unix:…, see buildQemuArgs): QEMU serves each
   * connection as its own viewer and closes them all when it exits.
   */
  async openRemoteScreen(vmId: string): Promise<Socket> {
    const vm = this.vm(vmId);
    if (vm.config.displays.length === 0) throw new HypervisorError('INVALID_ARGUMENT', `VM ${vmId} has no displays`);
    if (!vm.instance || (vm.state !== 'RUNNING' && vm.state !== 'PAUSED')) {
      throw new HypervisorError('INVALID_STATE', `VM ${vmId} is ${vm.state}: a remote screen needs a running VM`);
    }
    return new Promise<Socket>((resolve, reject) => {
      const socket = connect(vm.files.vncSocket);
      const failed = (error: NodeJS.ErrnoException) => {
        // A QEMU re-attached after a server upgrade may have been started without the VNC server.
        if (error.code === 'ENOENT') reject(new UnsupportedError(`VM ${vmId}'s QEMU runs without a VNC server: restart the VM to get one`));
        else reject(new HypervisorError('HYPERVISOR_ERROR', `cannot reach the VNC server of VM ${vmId}: ${error.message}`));
      };
      socket.once('error', failed);
      socket.once('connect', () => {
        socket.off('error', failed);
        // Errors later (QEMU exiting) end the socket; its holder learns that from 'close'.
        socket.on('error', () => undefined);
        resolve(socket);
      });
    });
  }

  async destroy(vmId: string): Promise<void> {
    const vm = this.vm(vmId);
    if (vm.state !== 'STOPPED' || vm.busy) {
      throw new HypervisorError('INVALID_STATE', `VM ${vmId} is ${vm.state}: only a STOPPED VM can be destroyed`);
    }
    this.vms.delete(vmId);
  }

  /**
   * Lets go of every VM without stopping it: QEMU processes outlive the server and are
   * re-attached by the next driver's create(). Waiting operations are rejected.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = new HypervisorError('INTERNAL', 'the qemu driver was closed (the QEMU processes keep running)');
    for (const vm of this.vms.values()) {
      vm.instance?.detach();
      for (const waiter of vm.stopWaiters) waiter.reject(closed);
      vm.stopWaiters = [];
    }
    this.vms.clear();
    this.events.complete();
  }

  // ------------------------------------------------------------------ operations

  private async transition(
    vmId: string,
    op: 'pause' | 'resume',
    from: VmState,
    via: VmState,
    command: 'stop' | 'cont',
    to: VmState,
  ): Promise<void> {
    this.assertOpen();
    const vm = this.vm(vmId);
    this.assertState(vm, op, [from]);
    const instance = this.live(vm);
    vm.busy = op;
    this.setState(vm, via);
    let status: string;
    try {
      await instance.execute(command);
      status = await instance.status();
    } catch (err) {
      if (err instanceof QmpConnectionError) {
        await instance.gone; // its end set STOPPED
        throw new HypervisorError('HYPERVISOR_ERROR', `${op} failed: QEMU went away (${err.message})`);
      }
      if (!instance.exited) {
        vm.busy = undefined;
        this.setState(vm, from);
      }
      throw new HypervisorError('HYPERVISOR_ERROR', `${op} failed: ${(err as Error).message}`);
    }
    if (instance.exited) throw new HypervisorError('HYPERVISOR_ERROR', `${op} failed: QEMU went away`);
    vm.busy = undefined;
    const now = stateOfStatus(status);
    this.setState(vm, now);
    if (now !== to) throw new HypervisorError('HYPERVISOR_ERROR', `${op} failed: QEMU reports "${status}"`);
  }

  private waitForStop(vm: QemuVm): Promise<void> {
    return new Promise<void>((resolve, reject) => vm.stopWaiters.push({ resolve, reject }));
  }

  /** Kills what a failed start left behind, waits until it is gone and describes the failure. */
  private async abortStart(vm: QemuVm, instance: QemuInstance | undefined, err: Error): Promise<string> {
    await instance?.kill();
    if (vm.busy === 'start') vm.busy = undefined;
    if (vm.state !== 'STOPPED' && !this.closing) this.setState(vm, 'STOPPED');
    const stderr = readTail(vm.files.stderrLog, STDERR_LINES_IN_ERRORS);
    const exit = instance?.exitDescription ? ` (${instance.exitDescription})` : '';
    return `${err.message}${exit}${stderr ? `; QEMU said: ${stderr}` : ''}`;
  }

  // ------------------------------------------------------------------ what a QEMU process reports

  /** How the VM follows what its QEMU process reports (see QemuInstanceListener). */
  private listenerFor(vm: QemuVm): QemuInstanceListener {
    return {
      shutdownBegan: () => {
        if (!vm.busy && (vm.state === 'RUNNING' || vm.state === 'PAUSED')) this.setState(vm, 'STOPPING');
      },
      guestStopped: () => {
        if (!vm.busy && vm.state === 'RUNNING') void this.onUnexpectedStop(vm, vm.instance!);
      },
      guestResumed: () => {
        if (!vm.busy && vm.state === 'PAUSED') this.setState(vm, 'RUNNING');
      },
      exited: (exit) => this.onExit(vm, exit),
    };
  }

  /** QEMU stopped the guest without being asked (an I/O error, a KVM internal error, …). */
  private async onUnexpectedStop(vm: QemuVm, instance: QemuInstance): Promise<void> {
    let status: string;
    try {
      status = await instance.status();
    } catch {
      return; // going away: onExit() reports it
    }
    if (instance.exited || vm.busy || vm.state !== 'RUNNING' || status === 'running') return;
    if (status === 'shutdown') return; // a SHUTDOWN event follows or came already
    this.setState(vm, 'PAUSED');
    if (FAULT_STATUSES.has(status)) {
      const stderr = readTail(vm.files.stderrLog, STDERR_LINES_IN_ERRORS);
      this.emitError(vm, `QEMU stopped the guest (${status})${stderr ? `: ${stderr}` : ''}`);
    }
  }

  /** The process is gone: STOPPED, and an error event unless the end was asked for or the guest's. */
  private onExit(vm: QemuVm, exit: QemuExit): void {
    vm.instance = undefined;
    const starting = vm.busy === 'start';
    vm.busy = undefined;
    if (exit.clean || starting) {
      this.logger.log(`VM ${vm.id}: ${exit.description}`);
      this.setState(vm, 'STOPPED');
    } else {
      const stderr = readTail(vm.files.stderrLog, STDERR_LINES_IN_ERRORS);
      const message = `the virtual machine stopped unexpectedly: ${exit.description}${stderr ? `; QEMU said: ${stderr}` : ''}`;
      this.logger.warn(`VM ${vm.id}: ${message}`);
      this.setState(vm, 'STOPPED');
      this.emitError(vm, message);
    }
    const waiters = vm.stopWaiters;
    vm.stopWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  // ------------------------------------------------------------------ helpers

  private launchOf(vm: QemuVm): QemuLaunch {
    const { binary, arch, firmware } = this.installation;
    return {
      binary,
      args: buildQemuArgs({ vmId: vm.id, config: vm.config, arch, accelerator: this.accelerator, files: vm.files, firmware }),
      accelerator: this.accelerator,
      efiVarsTemplate: firmware?.varsTemplate,
    };
  }

  private async limits(): Promise<QemuLimits> {
    const caps = await this.capabilities();
    return {
      maxCpuCount: caps.max_cpu_count,
      maxMemoryMb: caps.max_memory_mb,
      minMemoryMb: caps.min_memory_mb,
      maxDisplayWidth: caps.max_display_width,
      maxDisplayHeight: caps.max_display_height,
      bridgeInterfaces: caps.bridge_interfaces,
      firmware: this.installation.firmware,
    };
  }

  private vm(vmId: string): QemuVm {
    const vm = this.vms.get(vmId);
    if (!vm) throw new HypervisorError('NOT_FOUND', `VM ${vmId} not found`);
    return vm;
  }

  private assertOpen(): void {
    if (this.closing) throw new HypervisorError('INTERNAL', 'the qemu driver is closed');
  }

  private assertState(vm: QemuVm, op: VmOperation, allowed: VmState[]): void {
    if (vm.busy || !allowed.includes(vm.state)) {
      const now = vm.busy ? `busy (${vm.busy}, ${vm.state})` : vm.state;
      throw new HypervisorError('INVALID_STATE', `cannot ${op.replace('_', ' ')} VM ${vm.id}: it is ${now}`);
    }
  }

  /** The VM's QEMU process (present in every state but STOPPED/STARTING). */
  private live(vm: QemuVm): QemuInstance {
    if (!vm.instance) throw new HypervisorError('INVALID_STATE', `VM ${vm.id} has no QEMU process (it is ${vm.state})`);
    return vm.instance;
  }

  private setState(vm: QemuVm, state: VmState): void {
    if (vm.state === state) return;
    vm.state = state;
    this.emitState(vm);
  }

  private emitState(vm: QemuVm): void {
    if (this.closing) return;
    this.events.next({ type: 'state', vmId: vm.id, state: vm.state, seq: ++this.seq });
  }

  private emitError(vm: QemuVm, message: string): void {
    if (this.closing) return;
    this.events.next({ type: 'error', vmId: vm.id, code: 'HYPERVISOR_ERROR', message, seq: ++this.seq });
  }
}
