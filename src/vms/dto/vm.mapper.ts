import { HostCapabilities, VmState } from '../../hypervisor/hypervisor-driver';
import { diskIds, storageIdFor, VmRecord } from '../vms.repository';
import { VmDto } from './vm.dto';

/** The wire form of a VM; `state` is the driver's, `notes` what the host cannot honour. */
export function mapVm(record: VmRecord, state: VmState, caps: HostCapabilities): VmDto {
  const { vm, nics } = record;
  const notes: string[] = [];
  if (vm.rosetta && !caps.rosetta) notes.push(`rosetta: not available with the ${caps.driver} driver on this host; ignored`);
  return {
    vmid: vm.vmid,
    name: vm.name,
    catalog: vm.cid,
    type: vm.type,
    cpu_count: vm.cpuCount,
    memory_size_mb: vm.memorySizeMb,
    displays: vm.displays.map((d) => ({ description: (d as { description?: string }).description ?? '', width: d.width, height: d.height })),
    storage_devices: diskIds(record),
    nics: nics.map((n) => ({ nicid: n.nic.nicid, mac: n.mac })),
    rosetta: vm.rosetta,
    autostart: vm.autostart,
    kernel: storageIdFor(record, 'kernel'),
    initrd: storageIdFor(record, 'initrd'),
    cmdline: vm.cmdline,
    restore_image: storageIdFor(record, 'restore_image'),
    state,
    last_error: vm.lastError,
    notes,
  };
}
