import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { EntityManager } from 'typeorm';
import { RequestAudit } from '../audit/request-audit';
import { ApiError } from '../common/errors/api-error';
import { isUniqueViolation, UnitOfWork } from '../database/unit-of-work';
import { VmState } from '../hypervisor/hypervisor-driver';
import { HypervisorService } from '../hypervisor/hypervisor.service';
import { AuthenticatedUser } from '../identity/auth/authenticated-user';
import { NodesService, PlacedNode } from '../nodes/nodes.service';
import { GroupQuotasService } from '../quotas/group-quotas.service';
import { NicEntity } from '../resources/entities/nic.entity';
import { attachesReadOnly, StorageEntity } from '../resources/entities/storage.entity';
import { NicsService } from '../resources/nics.service';
import { ImageClone, StorageService } from '../resources/storage.service';
import { StorageRole } from './entities/vm-storage.entity';
import { VmEvents } from './events/vm-events.service';
import { VmStateCauses } from './events/vm-state-causes';
import { apiErrorOf } from './hypervisor-failures';
import { VmConfigBuilder } from './vm-config.builder';
import { definitionOf, VmDefinition } from './vm-definition';
import { VmFiles } from './vm-files';
import { checkAgainstHost } from './vm-host-limits';
import { VmLocks } from './vm-locks';
import { assertPortsFree, checkPortForwards } from './vm-port-forwards';
import { VmEntity } from './entities/vm.entity';
import { AttachmentRows, columnsOf, VmRecord, VmRows, VmsRepository } from './vms.repository';

/** A catalog and the group that owns it (whose quota its VMs count against). */
export interface CatalogRef {
  cid: string;
  gid: string;
}

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
    private readonly events: VmEvents,
    private readonly causes: VmStateCauses,
    private readonly quotas: GroupQuotasService,
    private readonly nodes: NodesService,
  ) {}

  /**
   * A new VM, written in one transaction with as few statements as it has rows: the name
   * check is the unique index, and the record is built from what was just written rather
   * than read back. Its directory and console FIFO are made before the transaction, which
   * needs no lock for them. The VM goes on the node given, else on one chosen by free
   * capacity (NodesService.place); only a VM of this node is defined in this driver.
   */
  async create(caller: AuthenticatedUser, { cid, gid }: CatalogRef, requested: VmDefinition): Promise<VmRecord> {
    const { node, resources } = await this.placeAndResolve(caller, requested);
    const definition = { ...requested, node: node.name };
    checkPortForwards(definition.port_forwards, resources.nics);
    const vmid = RequestAudit.newId();
    const attachments = this.attachmentRows(resources, []);
    let created: VmRecord;
    try {
      if (node.local) await this.files.prepare(vmid);
      created = await this.unitOfWork.run(async (manager) => {
        await this.assertWritableFree(manager, resources);
        await assertPortsFree(this.repository, manager, definition.port_forwards, vmid);
        await this.quotas.assertRoom(manager, gid, { vms: 1, vcpus: definition.cpu_count, memory: definition.memory_size_mb });
        await this.repository.insert(manager, vmid, cid, definition, attachments).catch(async (error: unknown) => {
          if (isUniqueViolation(error)) await this.assertNameFree(manager, cid, definition.name);
          throw error;
        });
        const record = newRecord(vmid, cid, definition, resources, attachments);
        // Inside the transaction: a definition the driver refuses leaves no row behind.
        if (node.local) await this.defineInDriver(record, { filesPrepared: true });
        return record;
      });
    } catch (error) {
      await this.files.remove(vmid);
      throw error;
    }
    this.events.publish({ type: 'created', vmid, cid, name: definition.name });
    return created;
  }

  /** The VM with what it attaches, read fresh: for operations that define, start or change it. */
  async get(vmid: string): Promise<VmRecord> {
    const record = await this.repository.load(vmid);
    if (!record) throw new ApiError('VM_NOT_FOUND', `VM ${vmid} does not exist`);
    return record;
  }

  /** The VM's rows as reads answer them (from memory after the first read). */
  async view(vmid: string): Promise<VmRows> {
    const rows = await this.repository.view(vmid);
    if (!rows) throw new ApiError('VM_NOT_FOUND', `VM ${vmid} does not exist`);
    return rows;
  }

  list(cid: string, limit: number, offset: number): Promise<{ rows: VmRows[]; total: number }> {
    return this.repository.viewPage(cid, limit, offset);
  }

  /**
   * Changes a stopped VM's definition; fields not given keep their value. `owner`: the group
   * owning its catalog. A new `node` moves the VM there: its images must live there already
   * (they do not travel), and a macOS VM stays where its platform identity is.
   */
  update(caller: AuthenticatedUser, vmid: string, owner: string, changes: Partial<VmDefinition>): Promise<VmRecord> {
    return this.locks.run(vmid, async () => {
      const current = await this.get(vmid);
      this.nodes.assertRunsHere(vmid, current.vm.node);
      this.assertStopped(current);
      const definition = { ...definitionOf(current), ...stripUndefined(changes) };
      const from = this.nodes.placementOf(current.vm.node).node;
      definition.node ??= from;
      if (definition.node !== from && current.vm.type === 'MAC') {
        throw new ApiError('VM_NOT_MOVABLE', `VM ${vmid} is a macOS VM; its platform identity stays on node ${from}`);
      }
      const kept = new Set([...current.storage.map((a) => a.stid), ...current.nics.map((n) => n.nicid)]);
      const { node, resources } = await this.placeAndResolve(caller, definition, kept);
      const wasLocal = this.nodes.isLocal(current.vm.node);
      checkPortForwards(definition.port_forwards, resources.nics);
      const updated = await this.unitOfWork.run(async (manager) => {
        await this.assertNameFree(manager, current.vm.cid, definition.name, vmid);
        await this.assertWritableFree(manager, resources, vmid);
        await assertPortsFree(this.repository, manager, definition.port_forwards, vmid);
        await this.quotas.assertRoom(manager, owner, {
          vcpus: definition.cpu_count - current.vm.cpuCount,
          memory: definition.memory_size_mb - current.vm.memorySizeMb,
        });
        // Keep a NIC's MAC across edits so the guest's network configuration stays valid.
        await this.repository.update(manager, vmid, current.vm.cid, definition, this.attachmentRows(resources, current.nics.map((n) => n.mac)));
        const updated = (await this.repository.load(vmid, manager))!;
        if (wasLocal && this.hypervisor.knows(vmid)) await this.hypervisor.destroy(vmid);
        try {
          if (node.local) await this.defineInDriver(updated);
        } catch (error) {
          if (wasLocal) await this.defineInDriver(current); // the transaction rolls back to it
          throw error;
        }
        return updated;
      });
      // Moved away: its directory (console log, firmware variables) belongs where it runs.
      if (wasLocal && !node.local) await this.files.remove(vmid);
      this.events.publish({ type: 'changed', vmid, cid: updated.vm.cid, name: updated.vm.name });
      return updated;
    });
  }

  /**
   * A stopped VM copied into a catalog (the same or another) as `name`: each disk the source
   * writes is cloned (copy-on-write where the filesystem can) into the target catalog's
   * group; read-only disks, kernels and the like are shared; the NICs are the same, with fresh
   * MAC addresses. The source is held (no start, change or delete) while its disks are
   * copied. A clone that fails halfway leaves no row and no file.
   */
  clone(vmid: string, target: CatalogRef, name: string): Promise<{ record: VmRecord; cow: boolean }> {
    return this.locks.run(vmid, async () => {
      const source = await this.get(vmid);
      this.nodes.assertRunsHere(vmid, source.vm.node);
      const state = this.stateOf(source);
      if (state !== 'STOPPED') throw new ApiError('VM_NOT_STOPPED', `VM ${vmid} is ${state}; stop it before cloning it`);
      const cloneVmid = RequestAudit.newId();
      /** The copies of the source's writable disks, by the source image's id. */
      const copies = new Map<string, ImageClone>();
      const demand = {
        vms: 1,
        vcpus: source.vm.cpuCount,
        memory: source.vm.memorySizeMb,
        storage: source.storage.reduce((bytes, { storage, writable }) => bytes + (writable ? storage.sizeBytes : 0), 0),
      };
      // Refused before the disks are copied; counted again where the rows are written.
      await this.quotas.precheck(target.gid, demand);
      try {
        for (const { storage, writable } of source.storage) {
          if (writable) copies.set(storage.stid, await this.storage.prepareClone(storage, { gid: target.gid, name: `${name}-disk${copies.size + 1}` }));
        }
        const record = await this.unitOfWork.run(async (manager) => {
          await this.assertNameFree(manager, target.cid, name);
          await this.quotas.assertRoom(manager, target.gid, demand);
          await this.storage.saveClones(manager, [...copies.values()]);
          // A host port belongs to one VM: the clone forwards none until given its own.
          await this.repository.insert(manager, cloneVmid, target.cid, { ...definitionOf(source), name, port_forwards: [] }, {
            storage: source.storage.map(({ stid, role, writable }) => ({ stid: copies.get(stid)?.image.stid ?? stid, role, writable })),
            nics: source.nics.map(({ nicid }) => ({ nicid, mac: randomMac() })),
          });
          // The final files before the definition: a hypervisor may check the disks exist.
          await this.storage.completeClones([...copies.values()]);
          const created = (await this.repository.load(cloneVmid, manager))!;
          if (this.nodes.isLocal(created.vm.node)) await this.defineInDriver(created);
          return created;
        });
        this.events.publish({ type: 'created', vmid: cloneVmid, cid: target.cid, name });
        return { record, cow: [...copies.values()].every((copy) => copy.cow) };
      } catch (error) {
        if (this.hypervisor.knows(cloneVmid)) await this.hypervisor.destroy(cloneVmid);
        await this.storage.discardClones([...copies.values()]);
        await this.files.remove(cloneVmid);
        throw error;
      }
    });
  }

  /** Deletes a VM and its hypervisor files; its storage stays. A running VM needs `force`. */
  delete(vmid: string, force: boolean): Promise<void> {
    return this.locks.run(vmid, async () => {
      const record = await this.get(vmid);
      this.nodes.assertRunsHere(vmid, record.vm.node);
      const { vm } = record;
      const state = this.stateOf(record);
      if (state !== 'STOPPED') {
        if (!force) throw new ApiError('VM_NOT_STOPPED', `VM ${vmid} is ${state}; stop it first or pass force`);
        // A forced stop's state changes are the request's doing.
        await this.causes.during(vmid, 'request', () => this.hypervisor.stop(vmid)).catch((error: unknown) => {
          throw apiErrorOf(error, { vmid, action: 'stop', state: this.driverState(vmid) });
        });
      }
      if (this.hypervisor.knows(vmid)) await this.hypervisor.destroy(vmid);
      await this.repository.delete(vmid, vm.cid); // its console sockets end (AccessChanges)
      this.events.publish({ type: 'deleted', vmid, cid: vm.cid });
      await this.files.remove(vmid);
    });
  }

  /** Deletes every VM of a catalog, stopping those that run (the catalog is being deleted). */
  async deleteAllInCatalog(cid: string): Promise<void> {
    for (const vmid of await this.repository.idsInCatalog(cid)) await this.delete(vmid, true);
  }

  /**
   * Defines a stored VM in the driver (at creation, at start, after a change), making its
   * directory and console FIFO first unless the caller has; a refusal becomes an API error
   * (apiErrorOf).
   */
  async defineInDriver(record: VmRecord, { filesPrepared = false } = {}): Promise<void> {
    const { vmid } = record.vm;
    if (!filesPrepared) await this.files.prepare(vmid);
    try {
      await this.hypervisor.create(vmid, this.configBuilder.build(record));
    } catch (error) {
      throw apiErrorOf(error, { vmid, action: 'define', state: 'STOPPED' });
    }
  }

  /** The VM's state as the driver has it; STOPPED for a VM the driver could not define. */
  driverState(vmid: string): VmState {
    return this.hypervisor.stateIfDefined(vmid) ?? 'STOPPED';
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

  private async assertNameFree(manager: EntityManager, cid: string, name: string, exceptVmid?: string): Promise<void> {
    const holder = await this.repository.nameHolder(manager, cid, name, exceptVmid);
    if (holder) throw new ApiError('VM_NAME_TAKEN', `A VM named ${name} already exists in this catalog`, { vmid: holder });
  }

  private async assertWritableFree(manager: EntityManager, resources: ResolvedResources, exceptVmid?: string): Promise<void> {
    for (const { role, image } of resources.storage) {
      if (role !== 'disk' || attachesReadOnly(image)) continue;
      const holder = await this.repository.writableHolder(manager, image.stid, exceptVmid);
      if (holder) throw new ApiError('STORAGE_IN_USE', `Storage ${image.stid} is attached writable to VM ${holder}`, { vmid: holder });
    }
  }

  /** The attachment rows of these resources; NICs keep the MACs given, by position, and get fresh ones beyond. */
  private attachmentRows(resources: ResolvedResources, macs: string[]): AttachmentRows {
    const seen = new Set<string>();
    for (const { image } of resources.storage) {
      if (seen.has(image.stid)) throw new ApiError('VALIDATION_FAILED', `Invalid request: storage ${image.stid} is listed twice`);
      seen.add(image.stid);
    }
    return {
      storage: resources.storage.map(({ role, image }) => ({ stid: image.stid, role, writable: role === 'disk' && !attachesReadOnly(image) })),
      nics: resources.nics.map((nic, position) => ({ nicid: nic.nicid, mac: macs[position] ?? randomMac() })),
    };
  }

  private assertStopped(record: VmRecord): void {
    const state = this.stateOf(record);
    if (state !== 'STOPPED') throw new ApiError('VM_NOT_STOPPED', `VM ${record.vm.vmid} is ${state}; its definition can only change while it is stopped`);
  }

  /** The state of a VM of this node as the driver has it; of another node's, as last recorded. */
  private stateOf({ vm }: VmRecord): VmState {
    return this.nodes.isLocal(vm.node) ? this.driverState(vm.vmid) : vm.state;
  }

  /**
   * The node the VM is to run on (given or chosen), its definition checked against that
   * node's host before its resources are looked up, and those resources (resolveResources).
   */
  private async placeAndResolve(caller: AuthenticatedUser, definition: VmDefinition, kept?: ReadonlySet<string>): Promise<{ node: PlacedNode; resources: ResolvedResources }> {
    let resources: ResolvedResources | undefined;
    const node = await this.nodes.place({ node: definition.node, fits: (capabilities) => checkAgainstHost(definition, capabilities) }, async () => {
      resources = await this.resolveResources(caller, definition, kept);
      return resources.storage.flatMap(({ image }) => {
        const node = this.nodes.holderOf(image.node);
        return node === null ? [] : [{ stid: image.stid, node }];
      });
    });
    return { node, resources: resources! };
  }
}

/** The record of a VM just written from `definition`, built from what was written. */
function newRecord(vmid: string, cid: string, definition: VmDefinition, resources: ResolvedResources, attachments: AttachmentRows): VmRecord {
  const vm = Object.assign(new VmEntity(), { vmid, cid, state: 'STOPPED' as const, lastError: null, ...columnsOf(definition) });
  return {
    vm,
    storage: attachments.storage.map((row, i) => ({ ...row, storage: resources.storage[i].image })),
    nics: attachments.nics.map((row, i) => ({ ...row, nic: resources.nics[i] })),
    portForwards: definition.port_forwards,
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
