import { Injectable } from '@nestjs/common';
import { randomBytes, randomUUID } from 'node:crypto';
import { EntityManager } from 'typeorm';
import { ApiError } from '../common/errors/api-error';
import { UnitOfWork } from '../database/unit-of-work';
import { HypervisorError } from '../hypervisor/hypervisor.errors';
import { HypervisorService } from '../hypervisor/hypervisor.service';
import { AuthenticatedUser } from '../identity/auth/authenticated-user';
import { NicEntity } from '../resources/entities/nic.entity';
import { StorageEntity } from '../resources/entities/storage.entity';
import { NicsService } from '../resources/nics.service';
import { StorageService } from '../resources/storage.service';
import { VmNicEntity } from './entities/vm-nic.entity';
import { StorageRole, VmStorageEntity } from './entities/vm-storage.entity';
import { VmEntity } from './entities/vm.entity';
import { VmConfigBuilder } from './vm-config.builder';
import { definitionOf, VmDefinition } from './vm-definition';
import { VmFiles } from './vm-files';
import { VmLocks } from './vm-locks';
import { VmRecord, VmsRepository } from './vms.repository';

interface ResolvedResources {
  storage: Array<{ role: StorageRole; image: StorageEntity }>;
  nics: NicEntity[];
}

/** A locally administered, unicast MAC address. */
function randomMac(): string {
  const bytes = randomBytes(6);
  bytes[0] = (bytes[0] & 0xfc) | 0x02;
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** VM definitions: create, read, change while stopped, delete. */
@Injectable()
export class VmsService {
  constructor(
    private readonly repository: VmsRepository,
    private readonly unitOfWork: UnitOfWork,
    private readonly hypervisor: HypervisorService,
    private readonly storage: StorageService,
    private readonly nics: NicsService,
    private readonly configBuilder: VmConfigBuilder,
    private readonly files: VmFiles,
    private readonly locks: VmLocks,
  ) {}

  async create(caller: AuthenticatedUser, cid: string, definition: VmDefinition): Promise<VmRecord> {
    this.checkAgainstHost(definition);
    const resources = await this.resolveResources(caller, definition);
    const vmid = randomUUID();
    try {
      return await this.unitOfWork.run(async (manager) => {
        const clash = await manager.findOne(VmEntity, { where: { cid, name: definition.name }, select: { vmid: true } });
        if (clash) {
          throw new ApiError('VM_NAME_TAKEN', `A VM named ${definition.name} already exists in this catalog`, { vmid: clash.vmid });
        }
        await this.assertWritableFree(manager, resources);
        await manager.insert(VmEntity, { vmid, cid, state: 'STOPPED', lastError: null, ...this.columns(definition) });
        await this.writeAttachments(manager, vmid, resources, []);
        const record = (await this.repository.load(vmid, manager))!;
        // Inside the transaction: a definition the driver refuses leaves no row behind.
        await this.defineInDriver(record);
        return record;
      });
    } catch (error) {
      await this.files.remove(vmid);
      throw error;
    }
  }

  async get(vmid: string): Promise<VmRecord> {
    const record = await this.repository.load(vmid);
    if (!record) throw new ApiError('VM_NOT_FOUND', `VM ${vmid} does not exist`);
    return record;
  }

  list(cid: string, limit: number, offset: number): Promise<{ records: VmRecord[]; total: number }> {
    return this.repository.page(cid, limit, offset);
  }

  /** Changes a stopped VM's definition; fields not given keep their value. */
  update(caller: AuthenticatedUser, vmid: string, changes: Partial<VmDefinition>): Promise<VmRecord> {
    return this.locks.run(vmid, async () => {
      const current = await this.get(vmid);
      this.assertStopped(vmid);
      const definition = { ...definitionOf(current), ...stripUndefined(changes) };
      this.checkAgainstHost(definition);
      const kept = new Set([...current.storage.map((a) => a.storage.stid), ...current.nics.map((n) => n.nic.nicid)]);
      const resources = await this.resolveResources(caller, definition, kept);
      return this.unitOfWork.run(async (manager) => {
        if (definition.name !== current.vm.name) {
          const clash = await manager.findOne(VmEntity, { where: { cid: current.vm.cid, name: definition.name }, select: { vmid: true } });
          if (clash) throw new ApiError('VM_NAME_TAKEN', `A VM named ${definition.name} already exists in this catalog`, { vmid: clash.vmid });
        }
        await this.assertWritableFree(manager, resources, vmid);
        await manager.update(VmEntity, { vmid }, this.columns(definition));
        await this.writeAttachments(manager, vmid, resources, current.nics.map((n) => n.mac));
        const updated = (await this.repository.load(vmid, manager))!;
        if (this.hypervisor.knows(vmid)) await this.hypervisor.destroy(vmid);
        try {
          await this.defineInDriver(updated);
        } catch (error) {
          await this.defineInDriver(current); // the transaction rolls back to it
          throw error;
        }
        return updated;
      });
    });
  }

  /** Deletes a VM and its hypervisor files; its storage stays. A running VM needs `force`. */
  delete(vmid: string, force: boolean): Promise<void> {
    return this.locks.run(vmid, async () => {
      await this.get(vmid);
      const state = this.hypervisor.knows(vmid) ? this.hypervisor.state(vmid) : 'STOPPED';
      if (state !== 'STOPPED') {
        if (!force) throw new ApiError('VM_NOT_STOPPED', `VM ${vmid} is ${state}; stop it first or pass force`);
        await this.hypervisor.stop(vmid).catch((error: unknown) => {
          throw new ApiError('HYPERVISOR_FAILURE', `Stopping the VM failed: ${(error as Error).message}`, { vmid, state: this.hypervisor.state(vmid) });
        });
      }
      if (this.hypervisor.knows(vmid)) await this.hypervisor.destroy(vmid);
      await this.unitOfWork.run((manager) => manager.delete(VmEntity, { vmid }));
      await this.files.remove(vmid);
    });
  }

  /**
   * Defines a stored VM in the driver (at creation, at start, after a change), making its
   * directory and console FIFO first; maps the driver's refusals to 4xx.
   */
  async defineInDriver(record: VmRecord): Promise<void> {
    await this.files.prepare(record.vm.vmid);
    try {
      await this.hypervisor.create(record.vm.vmid, this.configBuilder.build(record));
    } catch (error) {
      if (error instanceof HypervisorError && error.code === 'UNSUPPORTED') throw new ApiError('UNSUPPORTED_ON_HOST', error.message);
      if (error instanceof HypervisorError && ['INVALID_CONFIG', 'INVALID_ARGUMENT'].includes(error.code)) {
        throw new ApiError('INVALID_VM_CONFIG', error.message);
      }
      throw error;
    }
  }

  /** Checks the definition against what the driver reports for this host. */
  private checkAgainstHost(definition: VmDefinition): void {
    const caps = this.hypervisor.capabilities;
    if (!caps.vm_types.includes(definition.type)) {
      const why = definition.type === 'MAC' ? 'macOS guests need the vz driver on Apple silicon' : `the ${caps.driver} driver does not run ${definition.type} VMs`;
      throw new ApiError('UNSUPPORTED_ON_HOST', `${definition.type} VMs are not available on this host: ${why}`);
    }
    if (definition.cpu_count > caps.max_cpu_count) {
      throw new ApiError('HOST_LIMIT_EXCEEDED', `cpu_count ${definition.cpu_count} exceeds the host's limit of ${caps.max_cpu_count}`);
    }
    if (definition.memory_size_mb > caps.max_memory_mb || definition.memory_size_mb < caps.min_memory_mb) {
      throw new ApiError(
        'HOST_LIMIT_EXCEEDED',
        `memory_size_mb ${definition.memory_size_mb} is outside the host's range of ${caps.min_memory_mb} to ${caps.max_memory_mb} MiB`,
      );
    }
    for (const d of definition.displays) {
      if (d.width > caps.max_display_width || d.height > caps.max_display_height) {
        throw new ApiError('HOST_LIMIT_EXCEEDED', `display ${d.width}x${d.height} exceeds the host's limit of ${caps.max_display_width}x${caps.max_display_height}`);
      }
    }
    if (definition.sim && caps.driver !== 'sim') {
      throw new ApiError('VALIDATION_FAILED', `Invalid request: sim: simulator controls need the sim driver; this server runs ${caps.driver}`);
    }
    if (definition.type === 'KBOOT' && !definition.kernel) {
      throw new ApiError('VALIDATION_FAILED', 'Invalid request: kernel: a KBOOT VM needs a kernel image');
    }
  }

  /**
   * Finds every linked resource; the first one missing or invisible is a 404 naming it.
   * Resources in `kept` (already attached, on an update) need not be visible to the caller.
   */
  private async resolveResources(caller: AuthenticatedUser, definition: VmDefinition, kept: ReadonlySet<string> = new Set()): Promise<ResolvedResources> {
    const wanted: Array<{ role: StorageRole; stid: string }> = [
      ...definition.storage_devices.map((stid) => ({ role: 'disk' as const, stid })),
      ...(['kernel', 'initrd', 'restore_image'] as const).flatMap((role) => (definition[role] ? [{ role, stid: definition[role]! }] : [])),
    ];
    const images = await this.storage.findVisible(caller, wanted.map((w) => w.stid), kept);
    const storage = wanted.map(({ role, stid }) => {
      const image = images.get(stid);
      if (!image) throw new ApiError('RESOURCE_NOT_FOUND', `Storage ${stid} does not exist or is not visible to you`, { type: 'storage', rid: stid });
      return { role, image };
    });
    const found = await this.nics.findUsable(caller, definition.nics, kept);
    const nics = definition.nics.map((nicid) => {
      const nic = found.get(nicid);
      if (!nic) throw new ApiError('RESOURCE_NOT_FOUND', `NIC ${nicid} does not exist or is not available to you`, { type: 'nic', rid: nicid });
      return nic;
    });
    return { storage, nics };
  }

  private async assertWritableFree(manager: EntityManager, resources: ResolvedResources, exceptVmid?: string): Promise<void> {
    for (const { role, image } of resources.storage) {
      if (role !== 'disk' || image.readOnly) continue;
      const holder = await this.repository.writableHolder(manager, image.stid, exceptVmid);
      if (holder) throw new ApiError('STORAGE_IN_USE', `Storage ${image.stid} is attached writable to VM ${holder}`, { vmid: holder });
    }
  }

  private async writeAttachments(manager: EntityManager, vmid: string, resources: ResolvedResources, macs: string[]): Promise<void> {
    await manager.delete(VmStorageEntity, { vmid });
    await manager.delete(VmNicEntity, { vmid });
    const seen = new Set<string>();
    for (const [position, { role, image }] of resources.storage.entries()) {
      if (seen.has(image.stid)) throw new ApiError('VALIDATION_FAILED', `Invalid request: storage ${image.stid} is listed twice`);
      seen.add(image.stid);
      await manager.insert(VmStorageEntity, { vmid, stid: image.stid, role, position, writable: role === 'disk' && !image.readOnly });
    }
    for (const [position, nic] of resources.nics.entries()) {
      // Keep a NIC's MAC across edits so the guest's network configuration stays valid.
      await manager.insert(VmNicEntity, { vmid, position, nicid: nic.nicid, mac: macs[position] ?? randomMac() });
    }
  }

  private columns(definition: VmDefinition): Partial<VmEntity> {
    return {
      name: definition.name,
      type: definition.type,
      cpuCount: definition.cpu_count,
      memorySizeMb: definition.memory_size_mb,
      displays: definition.displays.map((d) => ({ width: d.width, height: d.height, ...(d.description ? { description: d.description } : {}) })),
      rosetta: definition.rosetta,
      autostart: definition.autostart,
      cmdline: definition.type === 'KBOOT' ? (definition.cmdline ?? '') : null,
      simOptions: definition.sim ?? null,
    };
  }

  private assertStopped(vmid: string): void {
    const state = this.hypervisor.knows(vmid) ? this.hypervisor.state(vmid) : 'STOPPED';
    if (state !== 'STOPPED') throw new ApiError('VM_NOT_STOPPED', `VM ${vmid} is ${state}; its definition can only change while it is stopped`);
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
