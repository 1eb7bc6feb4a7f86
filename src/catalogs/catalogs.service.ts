import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { RequestAudit } from '../audit/request-audit';
import { ApiError } from '../common/errors/api-error';
import { AccessChanges } from '../common/access-changes';
import { UnitOfWork } from '../database/unit-of-work';
import { AuthenticatedUser } from '../identity/auth/authenticated-user';
import { GroupEntity } from '../identity/entities/group.entity';
import { VmsService } from '../vms/vms.service';
import { CatalogEntity } from './entities/catalog.entity';
import { CatalogShareEntity } from './entities/catalog-share.entity';
import { Share } from './permissions/catalog-permission';
import { CatalogAccess, CatalogPermissionsService, Page } from './permissions/catalog-permissions.service';

/** Catalogs and their shares. Who may call what is decided by the guard before these run. */
@Injectable()
export class CatalogsService {
  constructor(
    @InjectRepository(CatalogEntity) private readonly catalogs: Repository<CatalogEntity>,
    private readonly permissions: CatalogPermissionsService,
    private readonly vms: VmsService,
    private readonly unitOfWork: UnitOfWork,
    private readonly accessChanges: AccessChanges,
  ) {}

  /** Creates a catalog owned by `gid`; the caller must be a member of it (root: any group). */
  async create(caller: AuthenticatedUser, gid: string, label: string): Promise<CatalogEntity> {
    const cid = RequestAudit.newId();
    try {
      return await this.unitOfWork.run(async (manager) => {
        const group = await manager.findOneBy(GroupEntity, { gid });
        if (!group || (!caller.isRoot && !caller.groupIds.has(gid))) {
          throw new ApiError('GROUP_NOT_FOUND', `Group ${gid} does not exist or you are not a member of it`);
        }
        return manager.save(manager.create(CatalogEntity, { cid, label, gid }));
      });
    } finally {
      this.accessChanges.publish({ kind: 'catalog-changed', cid }); // it is in lists now
    }
  }

  /** Deletes a catalog: first its VMs (stopping those that run), then the catalog and its shares. */
  async delete(cid: string): Promise<void> {
    try {
      await this.vms.deleteAllInCatalog(cid);
      await this.unitOfWork.run((manager) => manager.delete(CatalogEntity, { cid }));
    } finally {
      this.accessChanges.publish({ kind: 'catalog-changed', cid });
    }
  }

  /** Deletes every catalog the groups own, each the way DELETE /c does (the groups are being deleted). */
  async deleteOwnedBy(gids: string[]): Promise<void> {
    const owned = await this.catalogs.find({ where: { gid: In(gids) }, select: { cid: true } });
    for (const { cid } of owned) await this.delete(cid);
  }

  list(caller: AuthenticatedUser, page: Page): Promise<{ items: CatalogAccess[]; total: number }> {
    return this.permissions.listVisible(caller, page);
  }

  /** The catalog's shares, by group id; from memory after the first read (CatalogPermissionsService). */
  async listShares(cid: string): Promise<Share[]> {
    return (await this.permissions.sharesOf(cid)) ?? [];
  }

  /** Creates the share, or replaces every flag of an existing one (which may take permissions away). */
  async share(cid: string, share: Share): Promise<CatalogShareEntity> {
    try {
      return await this.unitOfWork.run(async (manager) => {
        if (!(await manager.existsBy(GroupEntity, { gid: share.gid }))) {
          throw new ApiError('GROUP_NOT_FOUND', `Group ${share.gid} does not exist`);
        }
        const row = manager.create(CatalogShareEntity, { cid, ...share });
        await manager.upsert(CatalogShareEntity, row, ['cid', 'gid']);
        return row;
      });
    } finally {
      this.accessChanges.publish({ kind: 'catalog-changed', cid });
    }
  }

  async revoke(cid: string, gid: string): Promise<void> {
    try {
      const result = await this.unitOfWork.run((manager) => manager.delete(CatalogShareEntity, { cid, gid }));
      if (!result.affected) throw new ApiError('SHARE_NOT_FOUND', `Catalog ${cid} has no share for group ${gid}`);
    } finally {
      this.accessChanges.publish({ kind: 'catalog-changed', cid });
    }
  }
}
