import { Logger } from '@nestjs/common';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants as fsConstants, openSync, readSync, fstatSync } from 'node:fs';
import { copyFile, rm, symlink } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Observable, Subject, Subscription } from 'rxjs';
import { QemuAccel } from '../../../config/app-config';
import {
  CapturedFrame,
  HostCapabilities,
  HypervisorDriver,
  HypervisorEvent,
  VmConfig,
  VmOperation,
  VmState,
} from '../../hypervisor-driver';
import { DriverUnavailableError, HypervisorError } from '../../hypervisor.errors';
import { convertPpmFileToPng } from '../../ppm';
import { chooseAccelerator, KvmProbeOptions } from './qemu-accel';
import { buildQemuArgs, optValue, QemuAccelerator } from './qemu-command';
import { QemuLimits, validateVmConfig } from './qemu-config';
import { QemuVmFiles, vmFiles } from './qemu-files';
import { detectQemu, listBridgeInterfaces, QemuInstallation } from './qemu-host';
import {
  connectWhenReady,
  fileId,
  isPidAlive,
  openFileIds,
  pollUntil,
  readCmdline,
  readPidFile,
  signal,
} from './qemu-process';
import { QmpClient, QmpConnectionError, QmpEvent } from './qmp-client';

/**
 * The `qemu` driver: one qemu-system-<arch> process per VM, controlled over QMP.
 *
 * Processes outlive the server. QEMU is spawned detached (its own session and process
 * group, stdio on files), so neither a server restart nor a Ctrl-C in the server's
 * terminal reaches it; close() only disconnects. create() of a VM whose QEMU is still
 * running (pid file → live pid whose command line names this VM's QMP socket → QMP
 * answers) re-attaches to it and reports its real state.
 *
 * Serial console. The server appends guest output to console.output (a file) and writes
 * input into console.input (a FIFO it created). The serial port uses a `pipe` chardev on
 * `<dir>/serial`, for which QEMU opens `<dir>/serial.in` and `<dir>/serial.out` with
 * O_RDWR: serial.in is a symlink to the FIFO, serial.out a symlink to /dev/null, and the
 * chardev's `logfile` (append mode) is console.output. So QEMU itself reads the FIFO and
 * writes the log: no bridge process in the server, nothing lost while the server is down,
 * and because QEMU holds the FIFO open read-write it never sees EOF when a writer goes
 * away. (A `socket` chardev with a logfile was rejected: QEMU logs only what it could send,
 * so output is lost whenever nobody is connected, e.g. during a server restart.) When the
 * server restarts and the driver re-attaches, it checks that QEMU still has the current
 * FIFO and log file open (the server may have re-created them) and otherwise points the
 * chardev at them again with QMP `chardev-change`.
 *
 * Guest power-off: no -no-shutdown, so QEMU exits when the guest powers off; the process
 * ending is the VM stopping, whoever caused it. A clean end (a forced stop we asked for, or
 * a guest-initiated SHUTDOWN event) gives STOPPED; any other end (killed, crashed, QEMU
 * terminated by a signal) gives STOPPED followed by an 'error' event with the exit status
 * and the last lines of QEMU's stderr (kept in <dir>/qemu-stderr.log).
 */

export interface QemuDriverOptions {
  /** VELOCITY_QEMU_ACCEL. Default auto. */
  accel?: QemuAccel;
  /** Binary and firmware; default: detected on this host. */
  installation?: QemuInstallation;
  kvmProbe?: KvmProbeOptions;
  /** Bound for QEMU to come up and answer on QMP at start(). Default 30 s. */
  startTimeoutMs?: number;
  /** After QMP `quit` (or a lost QMP connection), how long until SIGKILL. Default 5 s. */
  stopGraceMs?: number;
  /** Bound for each QMP command. Default 10 s. */
  commandTimeoutMs?: number;
  /** Where bridges are looked up (tests). Default /sys/class/net. */
  sysClassNet?: string;
}

export interface QemuHostCapabilities extends HostCapabilities {
  driver: 'qemu';
  accelerator: QemuAccelerator;
}

interface ExitInfo {
  code?: number | null;
  signal?: NodeJS.Signals | null;
  error?: string;
}

/** One QEMU process of a VM, from spawn or attach until it is gone. */
interface QemuProcess {
  pid: number;
  /** Present when this driver instance spawned it; absent when re-attached. */
  child?: ChildProcess;
  qmp?: QmpClient;
  subscription?: Subscription;
  exit?: ExitInfo;
  /** A forced stop (or a failed start) asked for the end: not an error. */
  forced: boolean;
  /** QEMU reported SHUTDOWN with guest:true (the guest powered off). */
  guestShutdown: boolean;
  shutdownReason?: string;
  /** close() let go of it: it keeps running, nothing here reacts any more. */
  detached: boolean;
  finalized: boolean;
  gone: Promise<void>;
  markGone: () => void;
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
  proc?: QemuProcess;
  /** The operation in progress (start, pause, resume, stop); request_stop returns at once and is not one. */
  busy?: VmOperation;
  stopWaiters: StopWaiter[];
  notes: string[];
}

const MIN_MEMORY_MB = 128;
const MAX_DISPLAY_WIDTH = 3840;
const MAX_DISPLAY_HEIGHT = 2160;
const STDERR_LINES_IN_ERRORS = 5;

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
  private readonly startTimeoutMs: number;
  private readonly stopGraceMs: number;
  private readonly commandTimeoutMs: number;
  private readonly sysClassNet: string;
  private seq = 0;
  private closing = false;

  private constructor(
    readonly installation: QemuInstallation,
    /** The accelerator every VM of this driver runs under. */
    readonly accelerator: QemuAccelerator,
    /** Why that accelerator (VELOCITY_QEMU_ACCEL, or the probe's finding). */
    readonly acceleratorReason: string,
    options: QemuDriverOptions,
  ) {
    this.startTimeoutMs = options.startTimeoutMs ?? 30_000;
    this.stopGraceMs = options.stopGraceMs ?? 5_000;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 10_000;
    this.sysClassNet = options.sysClassNet ?? '/sys/class/net';
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
    const running = await this.findRunningProcess(files);
    if (running === undefined) validateVmConfig(config, limits, { images: true, runtime: false });
    if (this.vms.has(vmId)) throw new HypervisorError('ALREADY_EXISTS', `VM ${vmId} already exists`);
    const vm: QemuVm = { id: vmId, config, files, state: 'STOPPED', stopWaiters: [], notes: notesFor(config) };
    if (running !== undefined) await this.attach(vm, running);
    this.vms.set(vmId, vm);
    if (vm.proc) this.emitState(vm);
  }

  /** Things the server may show with the VM: what of its configuration this driver ignores. */
  notes(vmId: string): string[] {
    return [...this.vm(vmId).notes];
  }

  /** The pid of the VM's QEMU process while there is one. */
  pid(vmId: string): number | undefined {
    return this.vm(vmId).proc?.pid;
  }

  state(vmId: string): VmState {
    return this.vm(vmId).state;
  }

  async start(vmId: string): Promise<void> {
    this.assertOpen();
    const vm = this.vm(vmId);
    this.assertState(vm, 'start', ['STOPPED']);
    validateVmConfig(vm.config, await this.limits(), { images: true, runtime: true });
    this.assertState(vm, 'start', ['STOPPED']); // the awaits above let other calls in
    vm.busy = 'start';
    this.setState(vm, 'STARTING');
    let proc: QemuProcess | undefined;
    try {
      await this.prepareFiles(vm);
      proc = this.spawnQemu(vm);
      const launched = proc;
      const qmp = await connectWhenReady(vm.files.qmpSocket, this.startTimeoutMs, () => launched.finalized, {
        commandTimeoutMs: this.commandTimeoutMs,
      });
      if (proc.finalized || this.closing) {
        qmp.close();
        throw new Error(this.closing ? 'the qemu driver was closed' : 'QEMU exited');
      }
      this.listen(vm, proc, qmp);
      await qmp.execute('cont');
      const { status } = await qmp.execute<{ status: string }>('query-status');
      if (status !== 'running') throw new Error(`QEMU reports "${status}" after cont`);
    } catch (err) {
      const detail = await this.abortStart(vm, proc, err as Error);
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
    const proc = this.live(vm);
    this.setState(vm, 'STOPPING');
    try {
      await proc.qmp!.execute('system_powerdown');
    } catch (err) {
      if (err instanceof QmpConnectionError) {
        await proc.gone; // QEMU went away meanwhile: the VM is STOPPED, which is what was asked
        return;
      }
      if (vm.proc === proc && vm.state === 'STOPPING' && !vm.busy) this.setState(vm, 'RUNNING');
      throw new HypervisorError('HYPERVISOR_ERROR', `request stop failed: ${(err as Error).message}`);
    }
  }

  /** Forced stop: QMP quit, SIGKILL when QEMU is not gone after the grace period. */
  async stop(vmId: string): Promise<void> {
    this.assertOpen();
    const vm = this.vm(vmId);
    if (vm.busy === 'stop') return this.waitForStop(vm);
    this.assertState(vm, 'stop', ['RUNNING', 'PAUSED', 'STOPPING']);
    const proc = this.live(vm);
    vm.busy = 'stop';
    proc.forced = true;
    const stopped = this.waitForStop(vm);
    this.setState(vm, 'STOPPING');
    proc.qmp?.execute('quit').catch(() => undefined); // the connection may close before the reply
    void this.killAfterGrace(proc);
    return stopped;
  }

  async captureDisplay(vmId: string, index: number, pngPath: string): Promise<CapturedFrame> {
    const vm = this.vm(vmId);
    const count = vm.config.displays.length;
    if (!Number.isInteger(index) || index < 0 || index >= count) {
      throw new HypervisorError(
        'INVALID_ARGUMENT',
        count === 0 ? `VM ${vmId} has no displays` : `VM ${vmId} has no display ${index} (it has ${count})`,
      );
    }
    const proc = vm.proc;
    if (!proc?.qmp || vm.state === 'STOPPED' || vm.state === 'STARTING') {
      throw new HypervisorError('INVALID_STATE', `VM ${vmId} is ${vm.state}: a screenshot needs a running VM`);
    }
    const ppm = join(vm.config.directory, `.screendump-${randomBytes(6).toString('hex')}.ppm`);
    try {
      await proc.qmp.execute('screendump', { filename: ppm, device: `gpu${index}` });
      return await convertPpmFileToPng(ppm, pngPath);
    } catch (err) {
      if (err instanceof HypervisorError) throw err;
      throw new HypervisorError('HYPERVISOR_ERROR', `screenshot of display ${index} failed: ${(err as Error).message}`);
    } finally {
      await rm(ppm, { force: true });
    }
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
      const proc = vm.proc;
      if (proc) {
        proc.detached = true;
        proc.subscription?.unsubscribe();
        proc.child?.removeAllListeners('exit');
        proc.child?.removeAllListeners('error');
        proc.qmp?.close();
        proc.markGone();
      }
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
    const proc = this.live(vm);
    vm.busy = op;
    this.setState(vm, via);
    let status: string;
    try {
      await proc.qmp!.execute(command);
      status = (await proc.qmp!.execute<{ status: string }>('query-status')).status;
    } catch (err) {
      if (err instanceof QmpConnectionError) {
        await proc.gone; // finalize() set STOPPED
        throw new HypervisorError('HYPERVISOR_ERROR', `${op} failed: QEMU went away (${err.message})`);
      }
      if (vm.proc === proc) {
        vm.busy = undefined;
        this.setState(vm, from);
      }
      throw new HypervisorError('HYPERVISOR_ERROR', `${op} failed: ${(err as Error).message}`);
    }
    if (vm.proc !== proc) throw new HypervisorError('HYPERVISOR_ERROR', `${op} failed: QEMU went away`);
    vm.busy = undefined;
    const now = stateOfStatus(status);
    this.setState(vm, now);
    if (now !== to) throw new HypervisorError('HYPERVISOR_ERROR', `${op} failed: QEMU reports "${status}"`);
  }

  private waitForStop(vm: QemuVm): Promise<void> {
    return new Promise<void>((resolve, reject) => vm.stopWaiters.push({ resolve, reject }));
  }

  private async killAfterGrace(proc: QemuProcess): Promise<void> {
    if (await pollUntil(() => proc.finalized, this.stopGraceMs)) return;
    if (proc.detached) return;
    this.logger.warn(`QEMU pid ${proc.pid} did not exit ${this.stopGraceMs} ms after quit; killing it`);
    signal(proc.pid, 'SIGKILL');
  }

  /** Kills what a failed start left behind, waits until it is gone and describes the failure. */
  private async abortStart(vm: QemuVm, proc: QemuProcess | undefined, err: Error): Promise<string> {
    if (proc && !proc.detached) {
      proc.forced = true;
      if (!proc.finalized) signal(proc.pid, 'SIGKILL');
      await proc.gone;
    }
    if (vm.busy === 'start') vm.busy = undefined;
    if (vm.state !== 'STOPPED' && !this.closing) this.setState(vm, 'STOPPED');
    const stderr = readTail(vm.files.stderrLog, STDERR_LINES_IN_ERRORS);
    const exit = proc?.exit ? ` (${describeExit(proc)})` : '';
    return `${err.message}${exit}${stderr ? `; QEMU said: ${stderr}` : ''}`;
  }

  // ------------------------------------------------------------------ processes

  private async prepareFiles(vm: QemuVm): Promise<void> {
    const { files, config } = vm;
    if (config.type === 'EFI') {
      // The variable store is copied once and then kept: boot entries and other UEFI
      // variables persist like the NVRAM of a real machine.
      try {
        await copyFile(this.installation.firmware!.varsTemplate, files.efiVars, fsConstants.COPYFILE_EXCL);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    const stale = [files.qmpSocket, files.pidFile, files.serialIn, files.serialOut];
    config.nics.forEach((nic, i) => nic.type === 'FILEHANDLE' && stale.push(files.nicSocket(i)));
    await Promise.all(stale.map((path) => rm(path, { force: true })));
    await this.serialLinks(vm);
  }

  /** serial.in → the console FIFO, serial.out → /dev/null (see the class comment). */
  private async serialLinks(vm: QemuVm): Promise<void> {
    const { files, config } = vm;
    await Promise.all([files.serialIn, files.serialOut].map((path) => rm(path, { force: true })));
    await symlink(config.console.input, files.serialIn);
    await symlink('/dev/null', files.serialOut);
  }

  private spawnQemu(vm: QemuVm): QemuProcess {
    const args = buildQemuArgs({
      vmId: vm.id,
      config: vm.config,
      arch: this.installation.arch,
      accelerator: this.accelerator,
      files: vm.files,
      firmware: this.installation.firmware,
    });
    const log = openSync(vm.files.stderrLog, 'w', 0o640);
    let child: ChildProcess;
    try {
      // detached: QEMU leads its own session, so it outlives the server and signals meant
      // for the server's process group do not reach it.
      child = spawn(this.installation.binary, args, { cwd: vm.config.directory, detached: true, stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    child.unref();
    const proc = this.newProcess(child.pid ?? -1, child);
    child.once('exit', (code, sig) => {
      proc.exit = { code, signal: sig };
      this.finalize(vm, proc);
    });
    child.once('error', (err) => {
      proc.exit = { error: err.message };
      this.finalize(vm, proc);
    });
    vm.proc = proc;
    this.logger.log(`VM ${vm.id}: started QEMU pid ${child.pid ?? '?'} (${this.accelerator})`);
    return proc;
  }

  private newProcess(pid: number, child?: ChildProcess): QemuProcess {
    let markGone!: () => void;
    const gone = new Promise<void>((resolve) => (markGone = resolve));
    return { pid, child, forced: false, guestShutdown: false, detached: false, finalized: false, gone, markGone };
  }

  /** The pid of this VM's QEMU if one is running: pid file, live pid, command line naming our QMP socket. */
  private async findRunningProcess(files: QemuVmFiles): Promise<number | undefined> {
    const pid = await readPidFile(files.pidFile);
    if (pid === undefined || !isPidAlive(pid)) return undefined;
    const argv = await readCmdline(pid);
    const qmpArg = `socket,id=qmp,path=${optValue(files.qmpSocket)},server=on,wait=off`;
    return argv?.includes(qmpArg) ? pid : undefined; // otherwise the pid was reused
  }

  private async attach(vm: QemuVm, pid: number): Promise<void> {
    let qmp: QmpClient;
    try {
      qmp = await QmpClient.connect(vm.files.qmpSocket, { timeoutMs: 5_000, commandTimeoutMs: this.commandTimeoutMs });
    } catch (err) {
      throw new HypervisorError(
        'HYPERVISOR_ERROR',
        `the QEMU process of VM ${vm.id} (pid ${pid}) is running but does not answer on QMP: ${(err as Error).message}`,
      );
    }
    try {
      const { status } = await qmp.execute<{ status: string }>('query-status');
      await this.reconnectConsole(vm, pid, qmp);
      const proc = this.newProcess(pid);
      vm.proc = proc;
      vm.state = stateOfStatus(status);
      this.listen(vm, proc, qmp);
      this.logger.log(`VM ${vm.id}: re-attached to QEMU pid ${pid} (${status})`);
    } catch (err) {
      qmp.close();
      throw new HypervisorError('HYPERVISOR_ERROR', `cannot re-attach to QEMU pid ${pid} of VM ${vm.id}: ${(err as Error).message}`);
    }
  }

  /**
   * After a server restart: if the console FIFO or log file is no longer the one QEMU has
   * open (the server re-created it), points the serial chardev at the current ones.
   */
  private async reconnectConsole(vm: QemuVm, pid: number, qmp: QmpClient): Promise<void> {
    const open = await openFileIds(pid);
    const input = await fileId(vm.config.console.input);
    const output = await fileId(vm.config.console.output);
    if (input !== undefined && open.has(input) && output !== undefined && open.has(output)) return;
    if (input === undefined) {
      this.logger.warn(`VM ${vm.id}: console input ${vm.config.console.input} is missing; console input stays disconnected`);
      return;
    }
    await this.serialLinks(vm);
    await qmp.execute('chardev-change', {
      id: 'serial0',
      backend: { type: 'pipe', data: { device: vm.files.serialBase, logfile: vm.config.console.output, logappend: true } },
    });
    this.logger.log(`VM ${vm.id}: serial console reconnected to ${vm.config.console.input}`);
  }

  /** Follows QMP events and the end of the connection for one process. */
  private listen(vm: QemuVm, proc: QemuProcess, qmp: QmpClient): void {
    proc.qmp = qmp;
    proc.subscription = qmp.events$.subscribe((event) => this.onQmpEvent(vm, proc, event));
    void qmp.whenClosed().then((reason) => this.onQmpClosed(vm, proc, reason));
  }

  private onQmpEvent(vm: QemuVm, proc: QemuProcess, event: QmpEvent): void {
    if (proc.detached || vm.proc !== proc) return;
    switch (event.event) {
      case 'SHUTDOWN':
        proc.guestShutdown = event.data?.guest === true;
        proc.shutdownReason = typeof event.data?.reason === 'string' ? event.data.reason : undefined;
        if (!vm.busy && (vm.state === 'RUNNING' || vm.state === 'PAUSED')) this.setState(vm, 'STOPPING');
        return;
      case 'STOP':
        if (!vm.busy && vm.state === 'RUNNING') void this.onUnexpectedStop(vm, proc);
        return;
      case 'RESUME':
        if (!vm.busy && vm.state === 'PAUSED') this.setState(vm, 'RUNNING');
        return;
    }
  }

  /** QEMU stopped the guest without being asked (an I/O error, a KVM internal error, …). */
  private async onUnexpectedStop(vm: QemuVm, proc: QemuProcess): Promise<void> {
    let status: string;
    try {
      status = (await proc.qmp!.execute<{ status: string }>('query-status')).status;
    } catch {
      return; // going away: finalize() reports it
    }
    if (vm.proc !== proc || vm.busy || vm.state !== 'RUNNING' || status === 'running') return;
    if (status === 'shutdown') return; // a SHUTDOWN event follows or came already
    this.setState(vm, 'PAUSED');
    if (FAULT_STATUSES.has(status)) {
      const stderr = readTail(vm.files.stderrLog, STDERR_LINES_IN_ERRORS);
      this.emitError(vm, `QEMU stopped the guest (${status})${stderr ? `: ${stderr}` : ''}`);
    }
  }

  /** The monitor connection ended: QEMU is exiting (or crashed, or closed it). */
  private async onQmpClosed(vm: QemuVm, proc: QemuProcess, reason: string): Promise<void> {
    if (proc.detached || proc.finalized) return;
    if (proc.child) {
      // Ours: the 'exit' event will finalize. Make sure it comes.
      await this.killAfterGrace(proc);
      return;
    }
    // Re-attached: not our child, so no exit event; watch the pid.
    if (!(await pollUntil(() => !isPidAlive(proc.pid) || proc.detached, this.stopGraceMs))) {
      this.logger.warn(`VM ${vm.id}: QMP closed (${reason}) but QEMU pid ${proc.pid} lives on; killing it`);
      signal(proc.pid, 'SIGKILL');
      await pollUntil(() => !isPidAlive(proc.pid), 5_000);
    }
    if (proc.detached) return;
    this.finalize(vm, proc);
  }

  /** The process is gone: STOPPED, and an error event unless the end was asked for or the guest's. */
  private finalize(vm: QemuVm, proc: QemuProcess): void {
    if (proc.finalized) return;
    proc.finalized = true;
    proc.subscription?.unsubscribe();
    proc.qmp?.close();
    if (proc.detached || vm.proc !== proc) {
      proc.markGone();
      return;
    }
    vm.proc = undefined;
    const starting = vm.busy === 'start';
    vm.busy = undefined;
    const clean = proc.forced || proc.guestShutdown;
    const how = describeExit(proc);
    if (clean || starting) {
      this.logger.log(`VM ${vm.id}: ${how}`);
      this.setState(vm, 'STOPPED');
    } else {
      const stderr = readTail(vm.files.stderrLog, STDERR_LINES_IN_ERRORS);
      const message = `the virtual machine stopped unexpectedly: ${how}${stderr ? `; QEMU said: ${stderr}` : ''}`;
      this.logger.warn(`VM ${vm.id}: ${message}`);
      this.setState(vm, 'STOPPED');
      this.emitError(vm, message);
    }
    const waiters = vm.stopWaiters;
    vm.stopWaiters = [];
    for (const waiter of waiters) waiter.resolve();
    proc.markGone();
  }

  // ------------------------------------------------------------------ helpers

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

  /** The VM's process with its QMP connection (present in every state but STOPPED/STARTING). */
  private live(vm: QemuVm): QemuProcess {
    const proc = vm.proc;
    if (!proc?.qmp || proc.finalized) {
      throw new HypervisorError('INVALID_STATE', `VM ${vm.id} has no QEMU process (it is ${vm.state})`);
    }
    return proc;
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

function notesFor(config: VmConfig): string[] {
  const notes: string[] = [];
  if (config.rosetta) notes.push('Rosetta is not available with the qemu driver: the VM runs without it');
  return notes;
}

function describeExit(proc: QemuProcess): string {
  const exit = proc.exit;
  const shutdown = proc.shutdownReason ? `, after SHUTDOWN (${proc.shutdownReason})` : '';
  if (!exit) return `QEMU pid ${proc.pid} ended${shutdown}`;
  if (exit.error) return `QEMU could not be run: ${exit.error}`;
  if (exit.signal) return `QEMU was killed by ${exit.signal}${shutdown}`;
  return `QEMU exited with code ${exit.code ?? '?'}${shutdown}`;
}

/** The last lines of a small log file, joined for a message (sync: called on exit paths). */
function readTail(path: string, lines: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = fstatSync(fd).size;
    const length = Math.min(size, 4096);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer
      .toString('utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .slice(-lines)
      .join(' | ');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
