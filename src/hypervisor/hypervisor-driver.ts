import type { Duplex } from 'node:stream';
import { Observable } from 'rxjs';

/**
 * The one interface every hypervisor driver implements (`sim` and `vz` through the native
 * library, `qemu` over QMP). Types mirror the JSON of native-bridge/include/velocity_hv.h,
 * so a configuration built here is what the native libraries receive, unchanged.
 */

export const VM_STATES = ['STOPPED', 'STARTING', 'RUNNING', 'PAUSING', 'PAUSED', 'RESUMING', 'STOPPING'] as const;
export type VmState = (typeof VM_STATES)[number];

export type VmType = 'EFI' | 'KBOOT' | 'MAC';
export type NicType = 'NAT' | 'BRIDGE' | 'FILEHANDLE';
export type DriverName = 'vz' | 'qemu' | 'sim';
/** How a qemu driver runs guests: KVM, or TCG (software emulation, much slower). */
export type Accelerator = 'kvm' | 'tcg';
/** The asynchronous operations, named as in velocity_hv.h and in op events. */
export type VmOperation = 'start' | 'pause' | 'resume' | 'request_stop' | 'stop';

export interface VmConsoleConfig {
  /** Guest serial output is appended to this file. */
  output: string;
  /** A FIFO the server creates; bytes written to it reach the guest. */
  input: string;
}

export interface VmDiskConfig {
  path: string;
  read_only: boolean;
}

export interface VmNicConfig {
  type: NicType;
  /** e.g. 52:54:00:12:34:56; the driver picks one when absent. */
  mac?: string;
  /** BRIDGE only: a host interface id from HostCapabilities.bridge_interfaces. */
  interface?: string;
  /** FILEHANDLE only: a bound datagram socket path. */
  socket?: string;
}

export type PortForwardProtocol = 'tcp' | 'udp';

/**
 * A host port forwarded to the guest through the VM's first NAT NIC (qemu user-mode
 * networking `hostfwd`). The host side listens on `host_address` only.
 */
export interface VmPortForwardConfig {
  protocol: PortForwardProtocol;
  host_address: string;
  host_port: number;
  guest_port: number;
}

export interface VmDisplayConfig {
  width: number;
  height: number;
}

export interface VmKbootConfig {
  kernel: string;
  initrd: string | null;
  cmdline: string;
}

export interface VmMacConfig {
  restore_image: string | null;
}

/** Simulator controls (sim driver only; other drivers ignore them). */
export interface SimOptions {
  /** Multiplies every transition delay (start 400 ms, pause/resume 50, request_stop 300, stop 50). */
  time_scale?: number;
  /** Makes that operation fail with HYPERVISOR_ERROR and this message. */
  fail?: Partial<Record<VmOperation, string>>;
  /** The guest powers itself off this many ms (of RUNNING time) after boot. */
  poweroff_after_ms?: number;
  /** The VM stops with a hypervisor error this many ms (of RUNNING time) after boot. */
  crash_after_ms?: number;
  /** What the guest's first NIC reports as its addresses while the VM runs (guestAddresses). */
  guest_addresses?: string[];
}

/** A VM's configuration as vhv_create takes it. All paths are absolute. */
export interface VmConfig {
  name: string;
  type: VmType;
  cpu_count: number;
  memory_size_mb: number;
  /** The VM's own directory: EFI variable store, machine identifier, auxiliary storage. */
  directory: string;
  console: VmConsoleConfig;
  disks: VmDiskConfig[];
  nics: VmNicConfig[];
  displays: VmDisplayConfig[];
  rosetta: boolean;
  /** Needs a NAT NIC; drivers that cannot forward ports refuse a non-empty list (UNSUPPORTED). */
  port_forwards?: VmPortForwardConfig[];
  /** Required for type KBOOT. */
  kboot?: VmKbootConfig;
  /** Required for type MAC. */
  mac?: VmMacConfig;
  sim?: SimOptions;
}

export interface BridgeInterface {
  id: string;
  name: string;
  description: string;
}

/** What the driver can do on this host; VM configurations are checked against it. */
export interface HostCapabilities {
  driver: DriverName;
  max_cpu_count: number;
  max_memory_mb: number;
  min_memory_mb: number;
  max_display_width: number;
  max_display_height: number;
  /** The most displays one VM may have, where the driver has a limit (vz: one virtio-gpu scanout for EFI and KBOOT VMs). */
  max_displays?: number;
  bridge_interfaces: BridgeInterface[];
  rosetta: boolean;
  macos_guests: boolean;
  screenshots: boolean;
  vm_types: VmType[];
  /** qemu only (not in velocity_hv.h). */
  accelerator?: Accelerator;
}

/** A VM changed state (`seq` is the driver's event sequence number, where it has one). */
export interface VmStateEvent {
  type: 'state';
  vmId: string;
  state: VmState;
  seq?: number;
}

/** A hypervisor error outside any operation, e.g. the VM stopped with an error. */
export interface VmErrorEvent {
  type: 'error';
  vmId: string;
  code: string;
  message: string;
  seq?: number;
}

export type HypervisorEvent = VmStateEvent | VmErrorEvent;

/** One display's frame, as PNG. */
export interface CapturedFrame {
  png: Buffer;
  width: number;
  height: number;
}

export interface HypervisorDriver {
  readonly name: DriverName;
  /** For the operator's log: what runs the VMs (binary or library path, accelerator and why). */
  readonly description: string;
  /** State changes and errors of the VMs this driver created, in order. */
  readonly events$: Observable<HypervisorEvent>;

  capabilities(): Promise<HostCapabilities>;
  /** Defines a VM in state STOPPED. Rejects with INVALID_CONFIG, ALREADY_EXISTS, UNSUPPORTED … */
  create(vmId: string, config: VmConfig): Promise<void>;
  /**
   * The operations resolve once the transition is complete and reject with a
   * HypervisorError when it is refused (INVALID_STATE, NOT_FOUND) or fails
   * (HYPERVISOR_ERROR, the VM then being in its true state). State events for the
   * transition are emitted on events$ before the promise settles.
   */
  start(vmId: string): Promise<void>;
  pause(vmId: string): Promise<void>;
  resume(vmId: string): Promise<void>;
  /**
   * Graceful: asks the guest to shut down; `stop` cuts it short. Drivers differ in when this
   * resolves: qemu once the ACPI request is delivered (the VM is STOPPING), sim and vz once
   * the guest has stopped — which a guest that ignores the request never does. Callers
   * therefore bound their wait and watch events$ for STOPPED.
   */
  requestStop(vmId: string): Promise<void>;
  /** Forced, immediate. */
  stop(vmId: string): Promise<void>;
  state(vmId: string): VmState;
  /** Display `index` of a running VM as PNG; UnsupportedError where impossible. Leaves no file behind. */
  captureDisplay(vmId: string, index: number): Promise<CapturedFrame>;
  /**
   * The guest's IP addresses as far as the driver can learn them (guest agent, host
   * neighbour table, DHCP leases), without loopback and link-local ones; [] when unknown or
   * the VM is not RUNNING — never a guess. Bounded in time: never waits long on a guest.
   */
  guestAddresses(vmId: string): Promise<string[]>;
  /**
   * A new connection to the RFB (VNC) server of display 0 of a running or paused VM: a byte
   * stream speaking RFB from the server's first byte (its version string) on. Several may be
   * open at once; each ends when the VM stops, and destroying it lets go of the server.
   * UnsupportedError where the hypervisor has no way to serve one.
   */
  openRemoteScreen(vmId: string): Promise<Duplex>;
  /** Forgets a STOPPED VM (INVALID_STATE otherwise); its files stay. */
  destroy(vmId: string): Promise<void>;
  /**
   * Releases the driver. In-process drivers (sim, vz) stop and forget the VMs they
   * created, as those die with the server; pending operations are rejected.
   */
  close(): Promise<void>;
}
