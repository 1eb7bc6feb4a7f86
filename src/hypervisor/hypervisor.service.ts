import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Observable, Subject, Subscription } from 'rxjs';
import { AppConfig } from '../config/app-config';
import { nativeLibraryPath, selectDriver } from './driver-selection';
import { NativeHypervisorDriver } from './drivers/native.driver';
import { QemuDriver } from './drivers/qemu/qemu.driver';
import {
  CapturedFrame,
  DriverName,
  HostCapabilities,
  HypervisorDriver,
  HypervisorEvent,
  VmConfig,
  VmState,
  VmType,
} from './hypervisor-driver';
import { HypervisorError } from './hypervisor.errors';

/** What GET /health tells about the hypervisor (no host details such as interface names). */
export interface HypervisorHealthInfo {
  driver: DriverName;
  /** True for the sim driver: nothing really runs. */
  simulated: boolean;
  /** qemu only: KVM, or TCG (software emulation, much slower). */
  accelerator?: 'kvm' | 'tcg';
  capabilities: {
    max_cpu_count: number;
    max_memory_mb: number;
    vm_types: VmType[];
    screenshots: boolean;
    macos_guests: boolean;
    rosetta: boolean;
  };
}

/**
 * The server's one door to the hypervisor: picks the driver from VELOCITY_HYPERVISOR at
 * start, caches the host capabilities, and forwards VM operations and events.
 */
@Injectable()
export class HypervisorService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(HypervisorService.name);
  private readonly events = new Subject<HypervisorEvent>();
  /** State changes and hypervisor errors of every VM, in order. */
  readonly events$: Observable<HypervisorEvent> = this.events.asObservable();
  private current?: HypervisorDriver;
  private subscription?: Subscription;
  private caps?: HostCapabilities;

  constructor(private readonly config: AppConfig) {}

  async onModuleInit(): Promise<void> {
    const { driver, warning } = selectDriver(this.config.hypervisor);
    if (warning) this.logger.warn(warning);
    const opened =
      driver === 'qemu'
        ? await QemuDriver.open({ accel: this.config.qemuAccel })
        : NativeHypervisorDriver.open(driver, nativeLibraryPath(driver));
    try {
      this.caps = await opened.capabilities();
    } catch (err) {
      await opened.close();
      throw err;
    }
    this.current = opened;
    this.subscription = opened.events$.subscribe((event) => this.events.next(event));
    const where =
      opened instanceof QemuDriver
        ? `${opened.installation.binary}, ${opened.accelerator.toUpperCase()}: ${opened.acceleratorReason}`
        : opened.libraryPath;
    this.logger.log(
      `hypervisor driver ${driver} (${where}): up to ${this.caps.max_cpu_count} vCPUs, ` +
        `${this.caps.max_memory_mb} MiB, VM types ${this.caps.vm_types.join(', ')}`,
    );
  }

  async onModuleDestroy(): Promise<void> {
    const driver = this.current;
    this.current = undefined;
    if (!driver) return;
    await driver.close();
    this.subscription?.unsubscribe();
  }

  get driverName(): DriverName {
    return this.driver.name;
  }

  /** The host's capabilities as the driver reported them at start. */
  get capabilities(): HostCapabilities {
    if (!this.caps) throw new HypervisorError('INTERNAL', 'the hypervisor service is not initialised');
    return this.caps;
  }

  healthInfo(): HypervisorHealthInfo {
    const c = this.capabilities;
    return {
      driver: this.driverName,
      simulated: this.driverName === 'sim',
      ...(this.current instanceof QemuDriver ? { accelerator: this.current.accelerator } : {}),
      capabilities: {
        max_cpu_count: c.max_cpu_count,
        max_memory_mb: c.max_memory_mb,
        vm_types: c.vm_types,
        screenshots: c.screenshots,
        macos_guests: c.macos_guests,
        rosetta: c.rosetta,
      },
    };
  }

  create(vmId: string, config: VmConfig): Promise<void> {
    return this.driver.create(vmId, config);
  }

  start(vmId: string): Promise<void> {
    return this.driver.start(vmId);
  }

  pause(vmId: string): Promise<void> {
    return this.driver.pause(vmId);
  }

  resume(vmId: string): Promise<void> {
    return this.driver.resume(vmId);
  }

  requestStop(vmId: string): Promise<void> {
    return this.driver.requestStop(vmId);
  }

  stop(vmId: string): Promise<void> {
    return this.driver.stop(vmId);
  }

  state(vmId: string): VmState {
    return this.driver.state(vmId);
  }

  /** Whether the driver has this VM defined (it may not, if defining it failed at start). */
  knows(vmId: string): boolean {
    try {
      this.driver.state(vmId);
      return true;
    } catch (error) {
      if (error instanceof HypervisorError && error.code === 'NOT_FOUND') return false;
      throw error;
    }
  }

  captureDisplay(vmId: string, index: number, pngPath: string): Promise<CapturedFrame> {
    return this.driver.captureDisplay(vmId, index, pngPath);
  }

  destroy(vmId: string): Promise<void> {
    return this.driver.destroy(vmId);
  }

  private get driver(): HypervisorDriver {
    if (!this.current) throw new HypervisorError('INTERNAL', 'the hypervisor service is not initialised');
    return this.current;
  }
}
