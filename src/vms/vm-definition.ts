import type { PortForwardProtocol, SimOptions, VmDisplayConfig, VmType } from '../hypervisor/hypervisor-driver';
import { diskIds, storageIdFor, VmRows } from './vms.repository';

/** A host port (on the server's forward address) that reaches a guest port through the VM's NAT NIC. */
export interface PortForward {
  protocol: PortForwardProtocol;
  host_port: number;
  guest_port: number;
}

/** A VM definition as the API takes it, after validation; ids not yet resolved. */
export interface VmDefinition {
  name: string;
  type: VmType;
  cpu_count: number;
  memory_size_mb: number;
  displays: Array<VmDisplayConfig & { description?: string }>;
  storage_devices: string[];
  nics: string[];
  rosetta: boolean;
  autostart: boolean;
  kernel?: string | null;
  initrd?: string | null;
  cmdline?: string | null;
  restore_image?: string | null;
  sim?: SimOptions | null;
  port_forwards: PortForward[];
  /** The node that runs the VM; at creation, given or chosen (NodesService.place). */
  node?: string;
}

/** A stored VM's definition, in the API's terms (what PATCH starts from). */
export function definitionOf(record: VmRows): VmDefinition {
  const { vm, nics } = record;
  return {
    name: vm.name,
    type: vm.type,
    cpu_count: vm.cpuCount,
    memory_size_mb: vm.memorySizeMb,
    displays: vm.displays,
    storage_devices: diskIds(record),
    nics: nics.map((n) => n.nicid),
    rosetta: vm.rosetta,
    autostart: vm.autostart,
    kernel: storageIdFor(record, 'kernel'),
    initrd: storageIdFor(record, 'initrd'),
    cmdline: vm.cmdline,
    restore_image: storageIdFor(record, 'restore_image'),
    sim: vm.simOptions,
    port_forwards: record.portForwards,
    node: vm.node ?? undefined,
  };
}
