import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { VmConfig } from '../hypervisor/hypervisor-driver';
import { HypervisorService } from '../hypervisor/hypervisor.service';
import { NicsService } from '../resources/nics.service';
import { StorageService } from '../resources/storage.service';
import { VmFiles } from './vm-files';
import { VmRecord } from './vms.repository';

/** Turns a stored VM into the configuration the hypervisor driver takes. */
@Injectable()
export class VmConfigBuilder {
  constructor(
    private readonly files: VmFiles,
    private readonly storage: StorageService,
    private readonly nics: NicsService,
    private readonly hypervisor: HypervisorService,
    private readonly config: AppConfig,
  ) {}

  build({ vm, storage, nics, portForwards }: VmRecord): VmConfig {
    const path = (role: string) => {
      const attachment = storage.find((a) => a.role === role);
      return attachment ? this.storage.pathOf(attachment.storage) : null;
    };
    const config: VmConfig = {
      name: vm.name,
      type: vm.type,
      cpu_count: vm.cpuCount,
      memory_size_mb: vm.memorySizeMb,
      directory: this.files.directory(vm.vmid),
      console: { output: this.files.consoleOutput(vm.vmid), input: this.files.consoleInput(vm.vmid) },
      disks: storage
        .filter((a) => a.role === 'disk')
        .map((a) => ({ path: this.storage.pathOf(a.storage), read_only: !a.writable })),
      nics: nics.map(({ mac, nic }) => ({
        type: nic.type,
        mac,
        ...(nic.type === 'BRIDGE' ? { interface: nic.hostInterface! } : {}),
        ...(nic.type === 'FILEHANDLE' ? { socket: this.nics.socketPathOf(nic.nicid) } : {}),
      })),
      displays: vm.displays.map((d) => ({ width: d.width, height: d.height })),
      // Rosetta where the host has it; elsewhere the request is ignored and the VM's notes say so.
      rosetta: vm.rosetta && this.hypervisor.capabilities.rosetta,
      port_forwards: portForwards.map((f) => ({ ...f, host_address: this.config.forwardAddress })),
    };
    if (vm.type === 'KBOOT') config.kboot = { kernel: path('kernel')!, initrd: path('initrd'), cmdline: vm.cmdline ?? '' };
    if (vm.type === 'MAC') config.mac = { restore_image: path('restore_image') };
    if (vm.simOptions) config.sim = vm.simOptions;
    return config;
  }
}
