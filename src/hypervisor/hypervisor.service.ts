import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { Duplex } from 'node:stream';
import { Observable, Subject, Subscription } from 'rxjs';
import { HYPERVISOR_DRIVER } from './driver-selection';
import {
  Accelerator,
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
  accelerator?: Accelerator;
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
 * The server's one door to the hypervisor: takes the driver HypervisorModule opened (the one
 * VELOCITY_HYPERVISOR selects), caches the host capabilities, forwards VM operations and
 * events, and closes the driver when the server stops.
 */
@Injectable()
export class HypervisorService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(HypervisorService.name);
  private readonly events = new Subject<HypervisorEvent>();
  /** State changes and hypervisor errors of every VM, in order. */
  readonly events$: Observable<HypervisorEvent> = this.events.asObservable();
  private subscription?: Subscription;
  private caps?: HostCapabilities;

  constructor(@Inject(HYPERVISOR_DRIVER) private readonly driver: HypervisorDriver) {}

  async onModuleInit(): Promise<void> {
    try {
      this.caps = await this.driver.capabilities();
    } catch (err) {
      await this.driver.close();
      throw err;
    }
    this.subscription = this.driver.events$.subscribe((event) => this.events.next(event));
    this.logger.log(
      `hypervisor driver ${this.driver.name} (${this.driver.description}): up to ${this.caps.max_cpu_count} vCPUs, ` +
        `${this.caps.max_memory_mb} MiB, VM types ${this.caps.vm_types.join(', ')}`,
    );
  }

  async onModuleDestroy(): Promise<void> {
    await this.driver.close();
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
      ...(c.accelerator ? { accelerator: c.accelerator } : {}),
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
    return this.stateIfDefined(vmId) !== undefined;
  }

  /** The VM's state, or undefined when the driver does not have it defined. */
  stateIfDefined(vmId: string): VmState | undefined {
    try {
      return this.driver.state(vmId);
    } catch (error) {
      if (error instanceof HypervisorError && error.code === 'NOT_FOUND') return undefined;
      throw error;
    }
  }

  captureDisplay(vmId: string, index: number): Promise<CapturedFrame> {
    return this.driver.captureDisplay(vmId, index);
  }

  /** The guest's addresses as far as the driver can tell; [] for a VM the driver does not have. */
  async guestAddresses(vmId: string): Promise<string[]> {
    return this.knows(vmId) ? this.driver.guestAddresses(vmId) : [];
  }

  openRemoteScreen(vmId: string): Promise<Duplex> {
    return this.driver.openRemoteScreen(vmId);
  }

  destroy(vmId: string): Promise<void> {
    return this.driver.destroy(vmId);
  }
}
