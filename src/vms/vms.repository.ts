import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager, EntityTarget, In } from 'typeorm';
import { CatalogIdResolver } from '../catalogs/permissions/catalog-references';
import { AccessChanges, ReadThroughCache } from '../common/access-changes';
import { readTogether, withPlaceholders } from '../database/dialect';
import { UnitOfWork, withSavepoint } from '../database/unit-of-work';
import type { VmState } from '../hypervisor/hypervisor-driver';
import { NicEntity } from '../resources/entities/nic.entity';
import { StorageEntity } from '../resources/entities/storage.entity';
import { VmNicEntity } from './entities/vm-nic.entity';
import { VmPortForwardEntity } from './entities/vm-port-forward.entity';
import { StorageRole, VmStorageEntity } from './entities/vm-storage.entity';
import { VmEntity } from './entities/vm.entity';
import type { PortForward, VmDefinition } from './vm-definition';

/** One row of vm_storage: the image, what it is to the VM, and whether the VM writes it. */
export interface StorageAttachmentRow {
  stid: string;
  role: StorageRole;
  /** False for a disk the VM attaches read-only (an ISO, a read-only image, a template) and for kernels and the like. */
  writable: boolean;
}

/** One row of vm_nics: the NIC and the VM's MAC address on it. */
export interface NicAttachmentRow {
  nicid: string;
  mac: string;
}

/**
 * A VM as its own tables describe it, attachments in order: what reads of definitions
 * answer, from memory after the first.
 */
export interface VmRows {
  vm: VmEntity;
  storage: StorageAttachmentRow[];
  nics: NicAttachmentRow[];
  portForwards: PortForward[];
}

export interface StorageAttachment extends StorageAttachmentRow {
  storage: StorageEntity;
}

export interface NicAttachment extends NicAttachmentRow {
  nic: NicEntity;
}

/** A VM with the images and NICs it attaches, read fresh: what defining, starting or changing it needs. */
export interface VmRecord extends VmRows {
  storage: StorageAttachment[];
  nics: NicAttachment[];
}

/** The storage id a VM uses in `role` (kernel, initrd, restore image), or null. */
export function storageIdFor({ storage }: VmRows, role: StorageRole): string | null {
  return storage.find((a) => a.role === role)?.stid ?? null;
}

/** The VM's disks' storage ids, in order. */
export function diskIds({ storage }: VmRows): string[] {
  return storage.filter((a) => a.role === 'disk').map((a) => a.stid);
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

/** Another VM's forward of a host port and protocol. */
export interface PortForwardHolder {
  vmid: string;
  protocol: PortForward['protocol'];
  host_port: number;
}

/** What the VMs placed on one node are given, summed: the node's allocated capacity. */
export interface NodeAllocation {
  vms: number;
  cpus: number;
  memoryMb: number;
}

/** VMs whose catalog and rows are kept in memory: all of them, at the scale Velocity is built for. */
const MAX_CACHED_VMS = 1_000_000;
/** Catalogs whose list of VMs (ids, by name) is kept in memory. */
const MAX_CACHED_CATALOG_LISTS = 100_000;

/** What a VM attaches, as rows to write. */
export interface AttachmentRows {
  storage: StorageAttachmentRow[];
  nics: NicAttachmentRow[];
}

/**
 * The one owner of the VM tables (vms, vm_storage, vm_nics, vm_port_forwards): every query
 * and write on them is here. Reads of definitions (`view`, `viewPage`) answer from memory
 * after the first: every write here drops what it touched once its transaction has settled
 * (UnitOfWork.afterSettled), through AccessChanges, so the copies stay exact. Loads of full
 * records (`load`, `all`) read the tables and the attached images and NICs fresh, in four
 * queries for any number of VMs.
 * Methods that take an EntityManager run inside the caller's transaction (UnitOfWork);
 * the others are whole units of their own.
 */
@Injectable()
export class VmsRepository implements CatalogIdResolver {
  /** Each VM's catalog, for the authorization of every request that names a VM. */
  private readonly catalogs = new ReadThroughCache<string, string>(MAX_CACHED_VMS);
  /** Each VM's rows. Shared objects: callers read them, never change them. */
  private readonly rows = new ReadThroughCache<string, VmRows>(MAX_CACHED_VMS);
  /** Each catalog's VM ids, ordered by name. */
  private readonly catalogVms = new ReadThroughCache<string, string[]>(MAX_CACHED_CATALOG_LISTS);

  constructor(
    private readonly dataSource: DataSource,
    private readonly unitOfWork: UnitOfWork,
    private readonly accessChanges: AccessChanges,
  ) {
    accessChanges.subscribe((change) => {
      if (change.kind === 'vm-changed') {
        this.catalogs.delete(change.vmid);
        this.rows.delete(change.vmid);
      } else if (change.kind === 'vm-record-changed') this.rows.delete(change.vmid);
      else if (change.kind === 'catalog-vms-changed') this.catalogVms.delete(change.cid);
      else if (change.kind === 'everything-changed') {
        this.catalogs.clear();
        this.rows.clear();
        this.catalogVms.clear();
      }
    });
  }

  /** The VM with the images and NICs it attaches, read fresh (inside `manager`'s transaction if given). */
  async load(vmid: string, manager: EntityManager = this.dataSource.manager): Promise<VmRecord | null> {
    const vm = await manager.findOneBy(VmEntity, { vmid });
    return vm ? (await this.withAttachments([vm], manager))[0] : null;
  }

  /** The VM's rows, from memory after the first read. */
  async view(vmid: string): Promise<VmRows | null> {
    return (await this.viewAll([vmid])).get(vmid) ?? null;
  }

  /**
   * The node a VM is on as the database has it now, counting a move another server committed
   * a moment ago (null: not yet claimed, or no such VM).
   */
  async nodeOf(vmid: string): Promise<string | null> {
    const row = await this.dataSource.manager.findOne(VmEntity, { where: { vmid }, select: { vmid: true, node: true } });
    return row?.node ?? null;
  }

  /** A page of the catalog's VMs by name, from memory after the first read. */
  async viewPage(cid: string, limit: number, offset: number): Promise<{ rows: VmRows[]; total: number }> {
    const ids =
      (await this.catalogVms.get(cid, async () => {
        const vms = await this.dataSource.manager.find(VmEntity, { where: { cid }, select: { vmid: true }, order: { name: 'ASC' } });
        return vms.map((vm) => vm.vmid);
      })) ?? [];
    const pageIds = ids.slice(offset, offset + limit);
    const found = await this.viewAll(pageIds);
    // A VM deleted since the list was read is left out; the next read has a fresh list.
    return { rows: pageIds.flatMap((vmid) => found.get(vmid) ?? []), total: ids.length };
  }

  async all(): Promise<VmRecord[]> {
    return this.withAttachments(await this.dataSource.manager.find(VmEntity, { order: { createdAt: 'ASC' } }));
  }

  /** Per node, what its VMs are given (whatever their state: a stopped VM may start any time). */
  async allocationByNode(): Promise<Map<string | null, NodeAllocation>> {
    const rows: Array<{ node: string | null; vms: string | number; cpus: string | number; memory: string | number }> = await this.dataSource.manager
      .createQueryBuilder(VmEntity, 'v')
      .select('v.node', 'node')
      .addSelect('COUNT(*)', 'vms')
      .addSelect('SUM(v.cpuCount)', 'cpus')
      .addSelect('SUM(v.memorySizeMb)', 'memory')
      .groupBy('v.node')
      .getRawMany();
    // PostgreSQL answers COUNT and SUM as strings (bigint, numeric).
    return new Map(rows.map((r) => [r.node, { vms: Number(r.vms), cpus: Number(r.cpus), memoryMb: Number(r.memory) }]));
  }

  /** The VM holding `stid` writable, other than `exceptVmid`. */
  async writableHolder(manager: EntityManager, stid: string, exceptVmid?: string): Promise<string | null> {
    const row = await manager
      .createQueryBuilder(VmStorageEntity, 'a')
      .where('a.stid = :stid AND a.writable = :writable', { stid, writable: true })
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
      withPlaceholders(
        this.dataSource,
        `SELECT v.vmid FROM vm_storage a JOIN storage s ON s.stid = a.stid JOIN vms v ON v.vmid = a.vmid JOIN catalogs c ON c.cid = v.cid
        WHERE s.gid IN (${list}) AND c.gid NOT IN (${list})
       UNION
       SELECT v.vmid FROM vm_nics n JOIN nics x ON x.nicid = n.nicid JOIN vms v ON v.vmid = n.vmid JOIN catalogs c ON c.cid = v.cid
        WHERE x.gid IN (${list}) AND c.gid NOT IN (${list})
       LIMIT 1`,
      ),
      [...gids, ...gids, ...gids, ...gids],
    );
    return rows[0]?.vmid ?? null;
  }

  /** The state last recorded for a VM. */
  async recordedState(vmid: string): Promise<VmEntity['state']> {
    return (await this.view(vmid))?.vm.state ?? 'STOPPED';
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

  /**
   * Writes a new VM: its row, its attachments and its port forwards, one statement each (none
   * for what it does not have). A name the catalog already holds fails on the unique index
   * (isUniqueViolation), leaving the transaction usable for finding out which VM holds it.
   */
  async insert(manager: EntityManager, vmid: string, cid: string, definition: VmDefinition, attachments: AttachmentRows): Promise<void> {
    this.changed(manager, vmid, cid);
    await withSavepoint(manager, () =>
      manager
        .createQueryBuilder()
        .insert()
        .into(VmEntity)
        .values({ vmid, cid, state: 'STOPPED', lastError: null, ...columnsOf(definition) })
        .updateEntity(false)
        .execute(),
    );
    await this.insertAttachments(manager, vmid, attachments, definition.port_forwards);
  }

  /** Rewrites a VM's definition: its row, and its attachments and port forwards replaced by these, in this order. */
  async update(manager: EntityManager, vmid: string, cid: string, definition: VmDefinition, attachments: AttachmentRows): Promise<void> {
    this.changed(manager, vmid, cid);
    await manager.update(VmEntity, { vmid }, columnsOf(definition));
    for (const table of [VmStorageEntity, VmNicEntity, VmPortForwardEntity]) await manager.delete(table, { vmid });
    await this.insertAttachments(manager, vmid, attachments, definition.port_forwards);
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
   * Records what the hypervisor reports (a state, an error, or both), in order, inside the
   * caller's transaction; returns what each change did, for the event log, or null for a VM
   * that no longer exists. The VMs are read in one query, and only where each VM ends up is
   * written: one UPDATE per distinct outcome (a burst of VMs reaching RUNNING is one).
   */
  async recordIn(manager: EntityManager, changes: Array<{ vmid: string } & ReportedChange>): Promise<Array<RecordedChange | null>> {
    const rows = await manager.find(VmEntity, { where: { vmid: In([...new Set(changes.map((c) => c.vmid))]) }, select: { vmid: true, cid: true, state: true } });
    const current = new Map(rows.map((row) => [row.vmid, row]));
    const outcomes = new Map<string, ReportedChange>();
    const recorded = changes.map(({ vmid, state, lastError }) => {
      const row = current.get(vmid);
      if (!row) return null;
      const outcome = outcomes.get(vmid) ?? {};
      if (state !== undefined) outcome.state = state;
      if (lastError !== undefined) outcome.lastError = lastError;
      outcomes.set(vmid, outcome);
      const previousState = row.state;
      row.state = state ?? row.state;
      return { vmid, cid: row.cid, previousState, state: row.state, lastError: lastError ?? null };
    });
    const vmidsByOutcome = new Map<string, string[]>();
    for (const [vmid, outcome] of outcomes) {
      this.changed(manager, vmid);
      const key = JSON.stringify(outcome);
      vmidsByOutcome.set(key, [...(vmidsByOutcome.get(key) ?? []), vmid]);
    }
    vmidsByOutcome.delete('{}');
    for (const [outcome, vmids] of vmidsByOutcome) await manager.update(VmEntity, { vmid: In(vmids) }, JSON.parse(outcome) as ReportedChange);
    return recorded;
  }

  /** Deletes the VM of catalog `cid`; its attachments go with it (ON DELETE CASCADE). */
  async delete(vmid: string, cid: string): Promise<void> {
    try {
      await this.unitOfWork.run((manager) => manager.delete(VmEntity, { vmid }));
    } finally {
      this.accessChanges.publish({ kind: 'vm-changed', vmid, cid });
      this.accessChanges.publish({ kind: 'catalog-vms-changed', cid });
    }
  }

  /**
   * Drops the memory of the VM's rows (and, with `cid`, of its catalog's list) once the
   * write's transaction has settled.
   */
  private changed(manager: EntityManager, vmid: string, cid?: string): void {
    this.unitOfWork.afterSettled(manager, () => {
      this.accessChanges.publish({ kind: 'vm-record-changed', vmid });
      if (cid) this.accessChanges.publish({ kind: 'catalog-vms-changed', cid });
    });
  }

  private async insertAttachments(manager: EntityManager, vmid: string, { storage, nics }: AttachmentRows, forwards: PortForward[]): Promise<void> {
    const rows: Array<[EntityTarget<object>, object[]]> = [
      [VmStorageEntity, storage.map((row, position) => ({ vmid, position, ...row }))],
      [VmNicEntity, nics.map((row, position) => ({ vmid, position, ...row }))],
      [VmPortForwardEntity, forwards.map((f, position) => ({ vmid, position, protocol: f.protocol, hostPort: f.host_port, guestPort: f.guest_port }))],
    ];
    for (const [table, values] of rows) {
      if (values.length) await manager.createQueryBuilder().insert().into(table).values(values).updateEntity(false).execute();
    }
  }

  /** The rows of these VMs that exist, from memory where held, the rest in one read. */
  private viewAll(vmids: string[]): Promise<Map<string, VmRows>> {
    return this.rows.getMany(vmids, async (missing) => {
      const vms = await this.dataSource.manager.findBy(VmEntity, { vmid: In(missing) });
      return new Map((await this.attachmentRowsOf(vms)).map((rows) => [rows.vm.vmid, rows]));
    });
  }

  private async attachmentRowsOf(vms: VmEntity[], manager: EntityManager = this.dataSource.manager): Promise<VmRows[]> {
    if (vms.length === 0) return [];
    const ids = vms.map((v) => v.vmid);
    const inOrder = { where: { vmid: In(ids) }, order: { position: 'ASC' as const } };
    const [storage, nics, forwards] = await readTogether(manager, [
      () => manager.find(VmStorageEntity, inOrder),
      () => manager.find(VmNicEntity, inOrder),
      () => manager.find(VmPortForwardEntity, inOrder),
    ]);
    return vms.map((vm) => ({
      vm,
      storage: storage.filter((a) => a.vmid === vm.vmid).map(({ stid, role, writable }) => ({ stid, role, writable })),
      nics: nics.filter((n) => n.vmid === vm.vmid).map(({ nicid, mac }) => ({ nicid, mac })),
      portForwards: forwards.filter((f) => f.vmid === vm.vmid).map((f) => ({ protocol: f.protocol, host_port: f.hostPort, guest_port: f.guestPort })),
    }));
  }

  private async withAttachments(vms: VmEntity[], manager: EntityManager = this.dataSource.manager): Promise<VmRecord[]> {
    const rows = await this.attachmentRowsOf(vms, manager);
    const stids = [...new Set(rows.flatMap((r) => r.storage.map((a) => a.stid)))];
    const nicids = [...new Set(rows.flatMap((r) => r.nics.map((n) => n.nicid)))];
    const [images, nics] = await readTogether(manager, [
      async () => (stids.length ? manager.findBy(StorageEntity, { stid: In(stids) }) : []),
      async () => (nicids.length ? manager.findBy(NicEntity, { nicid: In(nicids) }) : []),
    ]);
    const imageById = new Map(images.map((image) => [image.stid, image]));
    const nicById = new Map(nics.map((nic) => [nic.nicid, nic]));
    return rows.map((r) => ({
      ...r,
      storage: r.storage.map((a) => ({ ...a, storage: imageById.get(a.stid)! })),
      nics: r.nics.map((n) => ({ ...n, nic: nicById.get(n.nicid)! })),
    }));
  }
}

/** The vms columns of a definition (attachments are rows of their own). */
export function columnsOf(definition: VmDefinition): Partial<VmEntity> {
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
    node: definition.node ?? null,
  };
}
