import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager, In } from 'typeorm';
import { CatalogIdResolver } from '../catalogs/permissions/catalog-references';
import { AccessChanges, ReadThroughCache } from '../common/access-changes';
import { UnitOfWork } from '../database/unit-of-work';
import type { VmState } from '../hypervisor/hypervisor-driver';
import { NicEntity } from '../resources/entities/nic.entity';
import { StorageEntity } from '../resources/entities/storage.entity';
import { VmNicEntity } from './entities/vm-nic.entity';
import { VmPortForwardEntity } from './entities/vm-port-forward.entity';
import { StorageRole, VmStorageEntity } from './entities/vm-storage.entity';
import { VmEntity } from './entities/vm.entity';
import type { PortForward, VmDefinition } from './vm-definition';

export interface StorageAttachment {
  role: StorageRole;
  storage: StorageEntity;
  /** False for a disk the VM attaches read-only (an ISO, a read-only image, a template) and for kernels and the like. */
  writable: boolean;
}

export interface NicAttachment {
  mac: string;
  nic: NicEntity;
}

/** A VM row with what it attaches, in order. */
export interface VmRecord {
  vm: VmEntity;
  storage: StorageAttachment[];
  nics: NicAttachment[];
  portForwards: PortForward[];
}

/** The storage id a VM uses in `role` (kernel, initrd, restore image), or null. */
export function storageIdFor({ storage }: VmRecord, role: StorageRole): string | null {
  return storage.find((a) => a.role === role)?.storage.stid ?? null;
}

/** The VM's disks' storage ids, in order. */
export function diskIds({ storage }: VmRecord): string[] {
  return storage.filter((a) => a.role === 'disk').map((a) => a.storage.stid);
}

/** What the hypervisor reports about a VM: a state, an error, or both. */
export interface ReportedChange {
  state?: VmState;
  lastError?: string | null;
}

/** A committed write of a VM's state or error: the state before and after, and the error it recorded. */
export interface RecordedChange {
  vmid: string;
  cid: string;
  previousState: VmState;
  state: VmState;
  lastError: string | null;
}

/** One row of vm_storage to write: the image, what it is to the VM, and whether the VM writes it. */
export interface StorageAttachmentRow {
  stid: string;
  role: StorageRole;
  writable: boolean;
}

/** One row of vm_nics to write. */
export interface NicAttachmentRow {
  nicid: string;
  mac: string;
}

/** Another VM's forward of a host port and protocol. */
export interface PortForwardHolder {
  vmid: string;
  protocol: PortForward['protocol'];
  host_port: number;
}

/** VMs whose catalog is kept in memory: all of them, at the scale Velocity is built for. */
const MAX_CACHED_VM_CATALOGS = 1_000_000;

/**
 * The one owner of the VM tables (vms, vm_storage, vm_nics, vm_port_forwards): every query
 * and write on them is here. Reads load VMs with what they attach in four queries for any
 * number of VMs.
 * Methods that take an EntityManager run inside the caller's transaction (UnitOfWork);
 * the others are whole units of their own.
 */
@Injectable()
export class VmsRepository implements CatalogIdResolver {
  /** Each VM's catalog, for the authorization of every request that names a VM. */
  private readonly catalogs = new ReadThroughCache<string, string>(MAX_CACHED_VM_CATALOGS);

  constructor(
    private readonly dataSource: DataSource,
    private readonly unitOfWork: UnitOfWork,
    private readonly accessChanges: AccessChanges,
  ) {
    accessChanges.subscribe((change) => {
      if (change.kind === 'vm-changed') this.catalogs.delete(change.vmid);
    });
  }

  async load(vmid: string, manager: EntityManager = this.dataSource.manager): Promise<VmRecord | null> {
    const vm = await manager.findOneBy(VmEntity, { vmid });
    return vm ? (await this.withAttachments([vm], manager))[0] : null;
  }

  async page(cid: string, limit: number, offset: number): Promise<{ records: VmRecord[]; total: number }> {
    const [vms, total] = await this.dataSource.manager.findAndCount(VmEntity, {
      where: { cid },
      order: { name: 'ASC' },
      take: limit,
      skip: offset,
    });
    return { records: await this.withAttachments(vms), total };
  }

  async all(): Promise<VmRecord[]> {
    return this.withAttachments(await this.dataSource.manager.find(VmEntity, { order: { createdAt: 'ASC' } }));
  }

  /** The VM holding `stid` writable, other than `exceptVmid`. */
  async writableHolder(manager: EntityManager, stid: string, exceptVmid?: string): Promise<string | null> {
    const row = await manager
      .createQueryBuilder(VmStorageEntity, 'a')
      .where('a.stid = :stid AND a.writable = 1', { stid })
      .andWhere(exceptVmid ? 'a.vmid != :exceptVmid' : '1=1', { exceptVmid })
      .getOne();
    return row?.vmid ?? null;
  }

  /** Every VM's attachment of a storage image: which VM, in what role, writable or not. */
  attachmentsOf(manager: EntityManager, stid: string): Promise<VmStorageEntity[]> {
    return manager.findBy(VmStorageEntity, { stid });
  }

  /** The VM that attaches a storage image or NIC, if any. */
  async userOf(kind: 'storage' | 'nic', id: string): Promise<string | null> {
    const row =
      kind === 'storage'
        ? await this.dataSource.manager.findOneBy(VmStorageEntity, { stid: id })
        : await this.dataSource.manager.findOneBy(VmNicEntity, { nicid: id });
    return row?.vmid ?? null;
  }

  /** A VM outside the groups' own catalogs that uses storage or NICs the groups own. */
  async usingGroupResourcesOutside(gids: string[]): Promise<string | null> {
    const list = gids.map(() => '?').join(', ');
    const rows: Array<{ vmid: string }> = await this.dataSource.query(
      `SELECT v.vmid FROM vm_storage a JOIN storage s ON s.stid = a.stid JOIN vms v ON v.vmid = a.vmid JOIN catalogs c ON c.cid = v.cid
        WHERE s.gid IN (${list}) AND c.gid NOT IN (${list})
       UNION
       SELECT v.vmid FROM vm_nics n JOIN nics x ON x.nicid = n.nicid JOIN vms v ON v.vmid = n.vmid JOIN catalogs c ON c.cid = v.cid
        WHERE x.gid IN (${list}) AND c.gid NOT IN (${list})
       LIMIT 1`,
      [...gids, ...gids, ...gids, ...gids],
    );
    return rows[0]?.vmid ?? null;
  }

  /** The state last recorded for a VM (one indexed read). */
  async recordedState(vmid: string): Promise<VmEntity['state']> {
    const vm = await this.dataSource.manager.findOne(VmEntity, { where: { vmid }, select: { state: true } });
    return vm?.state ?? 'STOPPED';
  }

  /** From memory after the first read; a VM's deletion drops it (AccessChanges). */
  catalogOf(vmid: string): Promise<string | null> {
    return this.catalogs.get(vmid, async () => {
      const vm = await this.dataSource.manager.findOne(VmEntity, { where: { vmid }, select: { cid: true } });
      return vm?.cid ?? null;
    });
  }

  async idsInCatalog(cid: string): Promise<string[]> {
    const rows = await this.dataSource.manager.find(VmEntity, { where: { cid }, select: { vmid: true } });
    return rows.map((r) => r.vmid);
  }

  /** The VM of the catalog named `name`, other than `exceptVmid` (names are unique per catalog). */
  async nameHolder(manager: EntityManager, cid: string, name: string, exceptVmid?: string): Promise<string | null> {
    const holder = await manager.findOne(VmEntity, { where: { cid, name }, select: { vmid: true } });
    return holder && holder.vmid !== exceptVmid ? holder.vmid : null;
  }

  async insert(manager: EntityManager, vmid: string, cid: string, definition: VmDefinition): Promise<void> {
    await manager.insert(VmEntity, { vmid, cid, state: 'STOPPED', lastError: null, ...columnsOf(definition) });
  }

  async updateDefinition(manager: EntityManager, vmid: string, definition: VmDefinition): Promise<void> {
    await manager.update(VmEntity, { vmid }, columnsOf(definition));
  }

  /** Replaces the VM's attachments with these, in this order. */
  async replaceAttachments(manager: EntityManager, vmid: string, storage: StorageAttachmentRow[], nics: NicAttachmentRow[]): Promise<void> {
    await manager.delete(VmStorageEntity, { vmid });
    await manager.delete(VmNicEntity, { vmid });
    for (const [position, row] of storage.entries()) await manager.insert(VmStorageEntity, { vmid, position, ...row });
    for (const [position, row] of nics.entries()) await manager.insert(VmNicEntity, { vmid, position, ...row });
  }

  /** The first VM other than `exceptVmid` that forwards one of these host ports with the same protocol. */
  async portForwardHolder(manager: EntityManager, forwards: PortForward[], exceptVmid?: string): Promise<PortForwardHolder | null> {
    for (const { protocol, host_port } of forwards) {
      const row = await manager.findOneBy(VmPortForwardEntity, { protocol, hostPort: host_port });
      if (row && row.vmid !== exceptVmid) return { vmid: row.vmid, protocol, host_port };
    }
    return null;
  }

  /**
   * Replaces the VM's port forwards. The unique (protocol, host_port) index refuses a port
   * another VM holds even if a caller skipped portForwardHolder.
   */
  async replacePortForwards(manager: EntityManager, vmid: string, forwards: PortForward[]): Promise<void> {
    await manager.delete(VmPortForwardEntity, { vmid });
    for (const [position, f] of forwards.entries()) {
      await manager.insert(VmPortForwardEntity, { vmid, position, protocol: f.protocol, hostPort: f.host_port, guestPort: f.guest_port });
    }
  }

  /**
   * Records what the hypervisor reports (a state, an error, or both), in order, inside the
   * caller's transaction (the VMs are read in one query); returns what each committed write
   * changed, for the event log, or null for a VM that no longer exists.
   */
  async recordIn(manager: EntityManager, changes: Array<{ vmid: string } & ReportedChange>): Promise<Array<RecordedChange | null>> {
    const rows = await manager.find(VmEntity, { where: { vmid: In([...new Set(changes.map((c) => c.vmid))]) }, select: { vmid: true, cid: true, state: true } });
    const current = new Map(rows.map((row) => [row.vmid, row]));
    const recorded: Array<RecordedChange | null> = [];
    for (const { vmid, ...change } of changes) {
      const row = current.get(vmid);
      if (!row) {
        recorded.push(null);
        continue;
      }
      await manager.update(VmEntity, { vmid }, change);
      recorded.push({ vmid, cid: row.cid, previousState: row.state, state: change.state ?? row.state, lastError: change.lastError ?? null });
      row.state = change.state ?? row.state;
    }
    return recorded;
  }

  /** Deletes the VM of catalog `cid`; its attachments go with it (ON DELETE CASCADE). */
  async delete(vmid: string, cid: string): Promise<void> {
    try {
      await this.unitOfWork.run((manager) => manager.delete(VmEntity, { vmid }));
    } finally {
      this.accessChanges.publish({ kind: 'vm-changed', vmid, cid });
    }
  }

  private async withAttachments(vms: VmEntity[], manager: EntityManager = this.dataSource.manager): Promise<VmRecord[]> {
    if (vms.length === 0) return [];
    const ids = vms.map((v) => v.vmid);
    const storage = await manager
      .createQueryBuilder(VmStorageEntity, 'a')
      .innerJoinAndSelect('a.storage', 's')
      .where('a.vmid IN (:...ids)', { ids })
      .orderBy('a.position', 'ASC')
      .getMany();
    const nics = await manager
      .createQueryBuilder(VmNicEntity, 'n')
      .innerJoinAndSelect('n.nic', 'nic')
      .where('n.vmid IN (:...ids)', { ids })
      .orderBy('n.position', 'ASC')
      .getMany();
    const forwards = await manager
      .createQueryBuilder(VmPortForwardEntity, 'f')
      .where('f.vmid IN (:...ids)', { ids })
      .orderBy('f.position', 'ASC')
      .getMany();
    return vms.map((vm) => ({
      vm,
      storage: storage.filter((a) => a.vmid === vm.vmid).map((a) => ({ role: a.role, storage: a.storage!, writable: a.writable })),
      nics: nics.filter((n) => n.vmid === vm.vmid).map((n) => ({ mac: n.mac, nic: n.nic! })),
      portForwards: forwards
        .filter((f) => f.vmid === vm.vmid)
        .map((f) => ({ protocol: f.protocol, host_port: f.hostPort, guest_port: f.guestPort })),
    }));
  }
}

/** The vms columns of a definition (attachments are rows of their own). */
function columnsOf(definition: VmDefinition): Partial<VmEntity> {
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
