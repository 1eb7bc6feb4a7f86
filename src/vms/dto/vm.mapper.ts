import { HostCapabilities, VmState } from '../../hypervisor/hypervisor-driver';
import type { VmPlacement } from '../../nodes/nodes.service';
import { definitionOf } from '../vm-definition';
import { VmRows } from '../vms.repository';
import { VmDto } from './vm.dto';

/** The wire form of a VM; `state` is the driver's, `notes` what the host cannot honour, `placement` where it runs. */
export function mapVm(record: VmRows, state: VmState, caps: HostCapabilities, placement: VmPlacement): VmDto {
  const { vm, nics, storage } = record;
  const { sim: _sim, nics: _nicIds, node: _node, displays, kernel, initrd, cmdline, restore_image, ...definition } = definitionOf(record);
  const notes: string[] = [];
  if (vm.rosetta && !caps.rosetta) notes.push(`rosetta: not available with the ${caps.driver} driver on this host; ignored`);
  return {
    vmid: vm.vmid,
    catalog: vm.cid,
    ...definition,
    read_only_storage_devices: storage.filter((a) => a.role === 'disk' && !a.writable).map((a) => a.stid),
    displays: displays.map((d) => ({ description: d.description ?? '', width: d.width, height: d.height })),
    nics: nics.map(({ nicid, mac }) => ({ nicid, mac })),
    kernel: kernel ?? null,
    initrd: initrd ?? null,
    cmdline: cmdline ?? null,
    restore_image: restore_image ?? null,
    node: placement.node,
    node_online: placement.online,
    state,
    last_error: vm.lastError,
    notes,
  };
}
