import { HostCapabilities, VmState } from '../../hypervisor/hypervisor-driver';
import { VmRecord } from '../vms.repository';
import { VmDto } from './vm.dto';

/** The wire form of a VM; `state` is the driver's, `notes` what the host cannot honour. */
export function mapVm({ vm, storage, nics }: VmRecord, state: VmState, caps: HostCapabilities): VmDto {
  const role = (r: string) => storage.find((a) => a.role === r)?.storage.stid ?? null;
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
    storage_devices: storage.filter((a) => a.role === 'disk').map((a) => a.storage.stid),
    nics: nics.map((n) => ({ nicid: n.nic.nicid, mac: n.mac })),
    rosetta: vm.rosetta,
    autostart: vm.autostart,
    kernel: role('kernel'),
    initrd: role('initrd'),
    cmdline: vm.cmdline,
    restore_image: role('restore_image'),
    state,
    last_error: vm.lastError,
    notes,
  };
}
