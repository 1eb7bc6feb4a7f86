import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { ApiError } from '../common/errors/api-error';
import { AccessChanges, ReadThroughCache } from '../common/access-changes';
import { withPlaceholders } from '../database/dialect';
import { UnitOfWork } from '../database/unit-of-work';
import { AuthenticatedUser } from '../identity/auth/authenticated-user';
import { GroupEntity } from '../identity/entities/group.entity';
import { GroupQuotaEntity } from './group-quota.entity';
import { firstExcess, Limits, needsCount, NO_LIMITS, Quantities, QUOTA_NAMES, quotaExceeded } from './quota';

/** Groups whose limits are kept in memory. */
const MAX_CACHED_GROUPS = 100_000;

/** A group's limits and what it uses now. */
export interface GroupQuotaView {
  gid: string;
  limits: Limits;
  used: Quantities;
}

/**
 * Quotas per group: the owner of the group_quotas table, and the check that the VM and
 * storage paths call inside the transaction that writes their change.
 *
 * The check counts the group's use with SQL aggregates over the vms, catalogs and storage
 * tables, read-only, rather than through their owners: this module sits below the resources
 * and VM modules (both call it), so it cannot build on them. Exactness under concurrent
 * requests comes from UnitOfWork, which runs one transaction at a time in this process: a
 * count and the write it allows are in the same transaction, so no other request's write
 * comes between them. Several processes on one database (a cluster) need a database lock
 * around the same pair instead.
 */
@Injectable()
export class GroupQuotasService {
  /** Each group's limits (most have none), so that a check where no limit applies reads nothing. */
  private readonly limits = new ReadThroughCache<string, Limits>(MAX_CACHED_GROUPS);

  constructor(
    private readonly dataSource: DataSource,
    private readonly unitOfWork: UnitOfWork,
    private readonly accessChanges: AccessChanges,
  ) {
    accessChanges.subscribe((change) => {
      if (change.kind === 'quota-changed' || change.kind === 'group-deleted') this.limits.delete(change.gid);
      else if (change.kind === 'everything-changed') this.limits.clear();
    });
  }

  /** Limits and use; root, usermanager and the group's members may read them. */
  show(caller: AuthenticatedUser, gid: string): Promise<GroupQuotaView> {
    if (!caller.hasRight('usermanager') && !caller.groupIds.has(gid)) return Promise.reject(groupNotFound(gid));
    // One transaction, so the use shown is a committed state, not one a running transaction
    // may still roll back (the sqlite connection is shared).
    return this.unitOfWork.run(async (manager) => {
      await this.findGroup(manager, gid);
      return this.viewOf(manager, gid);
    });
  }

  /**
   * Sets limits (usermanager): a number sets one, null clears it, a quota left out keeps its
   * limit. A limit below the current use is allowed; it refuses any further growth.
   */
  set(caller: AuthenticatedUser, gid: string, changes: Partial<Limits>): Promise<GroupQuotaView> {
    return this.unitOfWork.run(async (manager) => {
      const group = await this.findGroup(manager, gid);
      if (group.special === 'root' && !caller.isRoot) throw new ApiError('PROTECTED_GROUP', 'Only members of root may set the root group\'s quota');
      const limits = { ...(await this.readLimits(manager, gid)), ...changes };
      this.unitOfWork.afterSettled(manager, () => this.accessChanges.publish({ kind: 'quota-changed', gid }));
      if (QUOTA_NAMES.every((quota) => limits[quota] === null)) {
        await manager.delete(GroupQuotaEntity, { gid });
      } else {
        await manager.save(GroupQuotaEntity, { gid, vms: limits.vms, vcpus: limits.vcpus, memoryMb: limits.memory, storageBytes: limits.storage });
      }
      return this.viewOf(manager, gid);
    });
  }

  /**
   * Refuses (422 QUOTA_EXCEEDED) a change that adds `demand` to the group's use beyond a
   * limit. Call it inside the transaction that writes the change, before the write: the
   * count must not include what `demand` adds.
   */
  async assertRoom(manager: EntityManager, gid: string, demand: Partial<Quantities>): Promise<void> {
    await this.check(manager, gid, await this.limitsOf(manager, gid), demand);
  }

  /**
   * assertRoom outside a transaction, before work that is costly to undo (copying or
   * receiving an image): refuses early what is already over the limit. Not exact under
   * concurrent requests; the committing transaction must check again.
   */
  precheck(gid: string, demand: Partial<Quantities>): Promise<void> {
    return this.assertRoom(this.dataSource.manager, gid, demand);
  }

  private async check(manager: EntityManager, gid: string, limits: Limits, demand: Partial<Quantities>): Promise<void> {
    if (!needsCount(limits, demand)) return;
    const excess = firstExcess(limits, await this.usageOf(manager, gid), demand);
    if (excess) throw quotaExceeded(gid, excess);
  }

  private async viewOf(manager: EntityManager, gid: string): Promise<GroupQuotaView> {
    return { gid, limits: await this.readLimits(manager, gid), used: await this.usageOf(manager, gid) };
  }

  /** For the checks: from memory after the first read; setting a quota drops it once its transaction has settled. */
  private async limitsOf(manager: EntityManager, gid: string): Promise<Limits> {
    return (await this.limits.get(gid, () => this.readLimits(manager, gid))) ?? NO_LIMITS;
  }

  /** As the transaction of `manager` sees them (which may have just set them). */
  private async readLimits(manager: EntityManager, gid: string): Promise<Limits> {
    const [row]: QuotaColumns[] = await manager.query(
      withPlaceholders(manager.connection, 'SELECT vms, vcpus, memory_mb, storage_bytes FROM group_quotas WHERE gid = ?'),
      [gid],
    );
    return row ? limitsFrom(row) : NO_LIMITS;
  }

  /** The VMs of the group's catalogs (count, vCPUs, MiB) and the bytes of its storage images. */
  private async usageOf(manager: EntityManager, gid: string): Promise<Quantities> {
    const [row]: Quantities[] = await manager.query(
      withPlaceholders(
        manager.connection,
        `SELECT COUNT(v.vmid) AS vms, COALESCE(SUM(v.cpu_count), 0) AS vcpus, COALESCE(SUM(v.memory_size_mb), 0) AS memory,
              (SELECT COALESCE(SUM(s.size_bytes), 0) FROM storage s WHERE s.gid = ?) AS storage
         FROM catalogs c JOIN vms v ON v.cid = c.cid
        WHERE c.gid = ?`,
      ),
      [gid, gid],
    );
    return { vms: Number(row.vms), vcpus: Number(row.vcpus), memory: Number(row.memory), storage: Number(row.storage) };
  }

  private async findGroup(manager: EntityManager, gid: string): Promise<GroupEntity> {
    const group = await manager.findOneBy(GroupEntity, { gid });
    if (!group) throw groupNotFound(gid);
    return group;
  }
}

interface QuotaColumns {
  vms: number | null;
  vcpus: number | null;
  memory_mb: number | null;
  storage_bytes: number | null;
}

function limitsFrom(row: QuotaColumns): Limits {
  return { vms: row.vms, vcpus: row.vcpus, memory: row.memory_mb, storage: row.storage_bytes };
}

function groupNotFound(gid: string): ApiError {
  return new ApiError('GROUP_NOT_FOUND', `Group ${gid} does not exist or you are not a member of it`);
}
