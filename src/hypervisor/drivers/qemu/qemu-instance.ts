import { Logger } from '@nestjs/common';
import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import { copyFile, rm, symlink } from 'node:fs/promises';
import { Subscription } from 'rxjs';
import { Accelerator, VmConfig } from '../../hypervisor-driver';
import { HypervisorError } from '../../hypervisor.errors';
import { optValue } from './qemu-command';
import { QemuVmFiles } from './qemu-files';
import { connectWhenReady, fileId, isPidAlive, openFileIds, pollUntil, readCmdline, readPidFile, signal } from './qemu-process';
import { QmpClient, QmpConnectionError, QmpEvent } from './qmp-client';

/** The VM a QEMU process runs. */
export interface QemuInstanceVm {
  id: string;
  config: VmConfig;
  files: QemuVmFiles;
}

/** How to run QEMU for a VM (see buildQemuArgs). */
export interface QemuLaunch {
  binary: string;
  args: string[];
  /** For the log line. */
  accelerator: Accelerator;
  /** EFI VMs: the firmware's variable store, copied once into the VM's directory. */
  efiVarsTemplate?: string;
}

export interface QemuInstanceTimings {
  /** Bound for a spawned QEMU to answer on QMP. */
  startTimeoutMs: number;
  /** Bound for a running QEMU (re-attach) to answer on QMP. */
  attachTimeoutMs: number;
  /** Bound for each QMP command. */
  commandTimeoutMs: number;
  /** After QMP `quit` or a lost QMP connection, how long until SIGKILL. */
  stopGraceMs: number;
  /** After SIGKILL to a re-attached QEMU, how long to wait for its pid to vanish. */
  killWaitMs: number;
}

/** How a QEMU process ended. */
export interface QemuExit {
  /** A forced stop (or a failed start) asked for the end, or the guest powered off: not an error. */
  clean: boolean;
  /** Exit code or signal, and the SHUTDOWN reason when there was one. */
  description: string;
}

/**
 * What an instance tells its VM. Only a live, attached instance reports: once its process
 * is gone (after `exited`) or it was detached, it calls nothing any more.
 */
export interface QemuInstanceListener {
  /** QMP SHUTDOWN: the guest powers off, or QEMU was asked to quit. */
  shutdownBegan(): void;
  /** QMP STOP: the guest was paused, by a command or by QEMU itself. */
  guestStopped(): void;
  /** QMP RESUME. */
  guestResumed(): void;
  exited(exit: QemuExit): void;
}

interface ExitStatus {
  code?: number | null;
  signal?: NodeJS.Signals | null;
  error?: string;
}

const logger = new Logger('Hypervisor:qemu');

/**
 * One QEMU process of a VM, from spawn or attach until it is gone (or the driver lets go
 * of it): its QMP connection, its events, its end.
 *
 * Processes outlive the server. QEMU is spawned detached (its own session and process
 * group, stdio on files), so neither a server restart nor a Ctrl-C in the server's
 * terminal reaches it; detach() only disconnects. A VM whose QEMU is still running (pid
 * file → live pid whose command line names this VM's QMP socket → QMP answers) is
 * re-attached with attach().
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
 * server restarts and re-attaches, attach() checks that QEMU still has the current FIFO and
 * log file open (the server may have re-created them) and otherwise points the chardev at
 * them again with QMP `chardev-change`.
 *
 * Guest power-off: no -no-shutdown, so QEMU exits when the guest powers off; the process
 * ending is the VM stopping, whoever caused it. A forced stop we asked for (quit(), kill())
 * or a guest-initiated SHUTDOWN event makes the end clean; any other end (killed, crashed,
 * QEMU terminated by a signal) is not (see QemuExit).
 */
export class QemuInstance {
  private qmp?: QmpClient;
  private subscription?: Subscription;
  private exitStatus?: ExitStatus;
  /** A forced stop (or a failed start) asked for the end. */
  private forced = false;
  /** QEMU reported SHUTDOWN with guest:true (the guest powered off). */
  private guestShutdown = false;
  private shutdownReason?: string;
  /** Set by detach(): the process keeps running, nothing here reacts any more. */
  private detached = false;
  private ended = false;
  private markGone!: () => void;
  /** Resolves once the process is gone, or the instance was detached. */
  readonly gone = new Promise<void>((resolve) => (this.markGone = resolve));

  private constructor(
    readonly pid: number,
    private readonly vm: QemuInstanceVm,
    private listener: QemuInstanceListener | undefined,
    private readonly timings: QemuInstanceTimings,
    /** Present when this instance spawned the process; absent when re-attached. */
    private readonly child?: ChildProcess,
  ) {}

  /**
   * Prepares the VM's files and spawns QEMU, paused (-S); boot() lets the guest run. An
   * end of the process from here on is reported to `listener`.
   */
  static async launch(
    vm: QemuInstanceVm,
    launch: QemuLaunch,
    listener: QemuInstanceListener,
    timings: QemuInstanceTimings,
  ): Promise<QemuInstance> {
    await prepareFiles(vm, launch.efiVarsTemplate);
    const log = openSync(vm.files.stderrLog, 'w', 0o640);
    let child: ChildProcess;
    try {
      // detached: QEMU leads its own session, so it outlives the server and signals meant
      // for the server's process group do not reach it.
      child = spawn(launch.binary, launch.args, { cwd: vm.config.directory, detached: true, stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    child.unref();
    const instance = new QemuInstance(child.pid ?? -1, vm, listener, timings, child);
    child.once('exit', (code, sig) => instance.end({ code, signal: sig }));
    child.once('error', (err) => instance.end({ error: err.message }));
    logger.log(`VM ${vm.id}: started QEMU pid ${child.pid ?? '?'} (${launch.accelerator})`);
    return instance;
  }

  /** The pid of this VM's QEMU if one is running: pid file, live pid, command line naming our QMP socket. */
  static async findRunning(files: QemuVmFiles): Promise<number | undefined> {
    const pid = await readPidFile(files.pidFile);
    if (pid === undefined || !isPidAlive(pid)) return undefined;
    const argv = await readCmdline(pid);
    const qmpArg = `socket,id=qmp,path=${optValue(files.qmpSocket)},server=on,wait=off`;
    return argv?.includes(qmpArg) ? pid : undefined; // otherwise the pid was reused
  }

  /**
   * Takes over the running QEMU `pid` of a VM (after a server restart): connects to QMP,
   * reconnects the console when needed and returns the instance with QEMU's run status.
   */
  static async attach(
    vm: QemuInstanceVm,
    pid: number,
    listener: QemuInstanceListener,
    timings: QemuInstanceTimings,
  ): Promise<{ instance: QemuInstance; status: string }> {
    let qmp: QmpClient;
    try {
      qmp = await QmpClient.connect(vm.files.qmpSocket, {
        timeoutMs: timings.attachTimeoutMs,
        commandTimeoutMs: timings.commandTimeoutMs,
      });
    } catch (err) {
      throw new HypervisorError(
        'HYPERVISOR_ERROR',
        `the QEMU process of VM ${vm.id} (pid ${pid}) is running but does not answer on QMP: ${(err as Error).message}`,
      );
    }
    try {
      const { status } = await qmp.execute<{ status: string }>('query-status');
      await reconnectConsole(vm, pid, qmp);
      const instance = new QemuInstance(pid, vm, listener, timings);
      instance.listen(qmp);
      logger.log(`VM ${vm.id}: re-attached to QEMU pid ${pid} (${status})`);
      return { instance, status };
    } catch (err) {
      qmp.close();
      throw new HypervisorError('HYPERVISOR_ERROR', `cannot re-attach to QEMU pid ${pid} of VM ${vm.id}: ${(err as Error).message}`);
    }
  }

  /** True once the process is gone (and, unless detached, the listener was told). */
  get exited(): boolean {
    return this.ended;
  }

  /** How the process ended, when it was this instance's child and has ended. */
  get exitDescription(): string | undefined {
    return this.exitStatus ? this.describeEnd() : undefined;
  }

  /** Waits for the spawned QEMU to answer on QMP, lets the guest run and checks that it does. */
  async boot(): Promise<void> {
    const qmp = await connectWhenReady(this.vm.files.qmpSocket, this.timings.startTimeoutMs, () => this.ended, {
      commandTimeoutMs: this.timings.commandTimeoutMs,
    });
    if (this.ended || this.detached) {
      qmp.close();
      throw new Error(this.detached ? 'the qemu driver was closed' : 'QEMU exited');
    }
    this.listen(qmp);
    await qmp.execute('cont');
    const status = await this.status();
    if (status !== 'running') throw new Error(`QEMU reports "${status}" after cont`);
  }

  /** Runs a QMP command; QmpConnectionError when there is no connection (any more). */
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (!this.qmp) return Promise.reject(new QmpConnectionError(`QMP ${command}: QEMU is not connected`));
    return this.qmp.execute<T>(command, args);
  }

  /** QEMU's run status (QMP query-status): running, paused, shutdown, io-error, … */
  async status(): Promise<string> {
    return (await this.execute<{ status: string }>('query-status')).status;
  }

  /** Forced stop: QMP quit, SIGKILL when QEMU is not gone after the grace period. */
  quit(): void {
    this.forced = true;
    this.qmp?.execute('quit').catch(() => undefined); // the connection may close before the reply
    void this.killAfterGrace();
  }

  /** Kills the process at once (a failed start) and waits until it is gone. */
  async kill(): Promise<void> {
    if (this.detached) return;
    this.forced = true;
    if (!this.ended) signal(this.pid, 'SIGKILL');
    await this.gone;
  }

  /** Lets go of the process without stopping it; from now on nothing is reported. */
  detach(): void {
    this.detached = true;
    this.listener = undefined;
    this.subscription?.unsubscribe();
    this.child?.removeAllListeners('exit');
    this.child?.removeAllListeners('error');
    this.qmp?.close();
    this.markGone();
  }

  /** Follows QMP events and the end of the connection. */
  private listen(qmp: QmpClient): void {
    this.qmp = qmp;
    this.subscription = qmp.events$.subscribe((event) => this.onQmpEvent(event));
    void qmp.whenClosed().then((reason) => this.onQmpClosed(reason));
  }

  private onQmpEvent(event: QmpEvent): void {
    switch (event.event) {
      case 'SHUTDOWN':
        this.guestShutdown = event.data?.guest === true;
        this.shutdownReason = typeof event.data?.reason === 'string' ? event.data.reason : undefined;
        this.listener?.shutdownBegan();
        return;
      case 'STOP':
        this.listener?.guestStopped();
        return;
      case 'RESUME':
        this.listener?.guestResumed();
        return;
    }
  }

  /** The monitor connection ended: QEMU is exiting (or crashed, or closed it). */
  private async onQmpClosed(reason: string): Promise<void> {
    if (this.detached || this.ended) return;
    if (this.child) {
      // Ours: the 'exit' event will end it. Make sure it comes.
      await this.killAfterGrace();
      return;
    }
    // Re-attached: not our child, so no exit event; watch the pid.
    if (!(await pollUntil(() => !isPidAlive(this.pid) || this.detached, this.timings.stopGraceMs))) {
      logger.warn(`VM ${this.vm.id}: QMP closed (${reason}) but QEMU pid ${this.pid} lives on; killing it`);
      signal(this.pid, 'SIGKILL');
      await pollUntil(() => !isPidAlive(this.pid), this.timings.killWaitMs);
    }
    if (this.detached) return;
    this.end();
  }

  private async killAfterGrace(): Promise<void> {
    if (await pollUntil(() => this.ended, this.timings.stopGraceMs)) return;
    if (this.detached) return;
    logger.warn(`QEMU pid ${this.pid} did not exit ${this.timings.stopGraceMs} ms after quit; killing it`);
    signal(this.pid, 'SIGKILL');
  }

  /** The process is gone: report it, once, unless detached. */
  private end(status?: ExitStatus): void {
    if (status) this.exitStatus = status; // a child may report 'error' and then 'exit'
    if (this.ended) return;
    this.ended = true;
    this.subscription?.unsubscribe();
    this.qmp?.close();
    const listener = this.listener;
    this.listener = undefined;
    listener?.exited({ clean: this.forced || this.guestShutdown, description: this.describeEnd() });
    this.markGone();
  }

  private describeEnd(): string {
    const exit = this.exitStatus;
    const shutdown = this.shutdownReason ? `, after SHUTDOWN (${this.shutdownReason})` : '';
    if (!exit) return `QEMU pid ${this.pid} ended${shutdown}`;
    if (exit.error) return `QEMU could not be run: ${exit.error}`;
    if (exit.signal) return `QEMU was killed by ${exit.signal}${shutdown}`;
    return `QEMU exited with code ${exit.code ?? '?'}${shutdown}`;
  }
}

async function prepareFiles({ files, config }: QemuInstanceVm, efiVarsTemplate: string | undefined): Promise<void> {
  if (config.type === 'EFI') {
    // The variable store is copied once and then kept: boot entries and other UEFI
    // variables persist like the NVRAM of a real machine.
    try {
      await copyFile(efiVarsTemplate!, files.efiVars, fsConstants.COPYFILE_EXCL);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const stale = [files.qmpSocket, files.agentSocket, files.pidFile, files.serialIn, files.serialOut];
  config.nics.forEach((nic, i) => nic.type === 'FILEHANDLE' && stale.push(files.nicSocket(i)));
  await Promise.all(stale.map((path) => rm(path, { force: true })));
  await serialLinks(files, config);
}

/** serial.in → the console FIFO, serial.out → /dev/null (see QemuInstance). */
async function serialLinks(files: QemuVmFiles, config: VmConfig): Promise<void> {
  await Promise.all([files.serialIn, files.serialOut].map((path) => rm(path, { force: true })));
  await symlink(config.console.input, files.serialIn);
  await symlink('/dev/null', files.serialOut);
}

/**
 * After a server restart: if the console FIFO or log file is no longer the one QEMU has
 * open (the server re-created it), points the serial chardev at the current ones.
 */
async function reconnectConsole({ id, config, files }: QemuInstanceVm, pid: number, qmp: QmpClient): Promise<void> {
  const open = await openFileIds(pid);
  const input = await fileId(config.console.input);
  const output = await fileId(config.console.output);
  if (input !== undefined && open.has(input) && output !== undefined && open.has(output)) return;
  if (input === undefined) {
    logger.warn(`VM ${id}: console input ${config.console.input} is missing; console input stays disconnected`);
    return;
  }
  await serialLinks(files, config);
  await qmp.execute('chardev-change', {
    id: 'serial0',
    backend: { type: 'pipe', data: { device: files.serialBase, logfile: config.console.output, logappend: true } },
  });
  logger.log(`VM ${id}: serial console reconnected to ${config.console.input}`);
}
