import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, In, Repository } from 'typeorm';
import { RequestAudit } from '../audit/request-audit';
import { ApiError } from '../common/errors/api-error';
import { UnitOfWork } from '../database/unit-of-work';
import { refuseWhileInUse } from './refuse-while-in-use';
import { AuthenticatedUser } from './auth/authenticated-user';
import { AccessChanges } from '../common/access-changes';
import { GroupEntity } from './entities/group.entity';
import { GroupContentsService } from './group-contents.service';
import { UserEntity } from './entities/user.entity';

const MEMBERSHIPS = 'memberships';

/** Groups and memberships. */
@Injectable()
export class GroupsService {
  constructor(
    @InjectRepository(GroupEntity) private readonly groups: Repository<GroupEntity>,
    private readonly unitOfWork: UnitOfWork,
    private readonly accessChanges: AccessChanges,
    private readonly groupContents: GroupContentsService,
  ) {}

  create(groupname: string): Promise<GroupEntity> {
    return this.unitOfWork.run(async (manager) => {
      await this.assertNameFree(manager, groupname);
      const group = manager.create(GroupEntity, { gid: RequestAudit.newId(), groupname, special: null, personalUid: null });
      return manager.save(group);
    });
  }

  /** Deletes a group with what it owns (catalogs and their VMs, storage, FILEHANDLE NICs). */
  async delete(gid: string): Promise<void> {
    const group = await this.groups.findOneBy({ gid });
    if (!group) throw new ApiError('GROUP_NOT_FOUND', `Group ${gid} does not exist`);
    if (group.special) throw new ApiError('PROTECTED_GROUP', `The special group ${group.groupname} cannot be deleted`);
    if (group.personalUid) {
      throw new ApiError('PROTECTED_GROUP', `${group.groupname} is a personal group; delete the user instead`);
    }
    try {
      const afterwards = await this.groupContents.removeContents([gid]);
      await this.unitOfWork.run((manager) => manager.delete(GroupEntity, { gid }).catch(refuseWhileInUse));
      await afterwards();
    } finally {
      this.accessChanges.publish({ kind: 'group-deleted', gid });
    }
  }

  /** Every group for usermanager and root; the caller's own groups for everyone else. */
  list(caller: AuthenticatedUser): Promise<GroupEntity[]> {
    return caller.hasRight('usermanager')
      ? this.groups.find({ order: { groupname: 'ASC' } })
      : this.groups.find({ where: { gid: In([...caller.groupIds]) }, order: { groupname: 'ASC' } });
  }

  /** Adds memberships; returns the user's groups afterwards. */
  assign(caller: AuthenticatedUser, uid: string, gids: string[]): Promise<GroupEntity[]> {
    return this.unitOfWork.run(async (manager) => {
      const user = await this.findUser(manager, uid);
      const groups = await this.findGroups(manager, gids);
      this.assertMayChange(caller, groups, 'assign');
      const current = new Set(user.groups.map((g) => g.gid));
      const added = groups.filter((g) => !current.has(g.gid));
      if (added.length > 0) {
        await manager.createQueryBuilder().relation(UserEntity, 'groups').of(uid).add(added.map((g) => g.gid));
      }
      return this.groupsOf(manager, uid);
    }).finally(() => this.accessChanges.publish({ kind: 'memberships-changed' }));
  }

  /** Removes memberships; returns the user's groups afterwards. */
  unassign(caller: AuthenticatedUser, uid: string, gids: string[]): Promise<GroupEntity[]> {
    return this.unitOfWork.run(async (manager) => {
      const user = await this.findUser(manager, uid);
      const groups = await this.findGroups(manager, gids);
      this.assertMayChange(caller, groups, 'revoke');
      const personal = groups.find((g) => g.personalUid === uid);
      if (personal) throw new ApiError('PROTECTED_GROUP', `A user always belongs to their personal group ${personal.groupname}`);
      const current = new Set(user.groups.map((g) => g.gid));
      const removed = groups.filter((g) => current.has(g.gid));
      if (removed.length > 0) {
        await manager.createQueryBuilder().relation(UserEntity, 'groups').of(uid).remove(removed.map((g) => g.gid));
      }
      return this.groupsOf(manager, uid);
    }).finally(() => this.accessChanges.publish({ kind: 'memberships-changed' }));
  }

  /** Group names share one namespace with usernames, because each user has a personal group. */
  async assertNameFree(manager: EntityManager, name: string): Promise<void> {
    if (await manager.existsBy(GroupEntity, { groupname: name })) {
      throw new ApiError('GROUPNAME_TAKEN', `A group named ${name} already exists`);
    }
  }

  /** Loads the groups by id, failing with 404 on the first that does not exist. */
  async findGroups(manager: EntityManager, gids: string[]): Promise<GroupEntity[]> {
    if (gids.length === 0) return [];
    const found = await manager.findBy(GroupEntity, { gid: In(gids) });
    const missing = gids.find((gid) => !found.some((g) => g.gid === gid));
    if (missing) throw new ApiError('GROUP_NOT_FOUND', `Group ${missing} does not exist`);
    return found;
  }

  /** Only root may put users into, or take them out of, the root group. */
  assertMayChange(caller: AuthenticatedUser, groups: GroupEntity[], action: 'assign' | 'revoke'): void {
    if (!caller.isRoot && groups.some((g) => g.special === 'root')) {
      throw new ApiError('PROTECTED_GROUP', `Only members of root may ${action} membership of the root group`);
    }
  }

  groupsOf(manager: EntityManager, uid: string): Promise<GroupEntity[]> {
    return manager
      .createQueryBuilder(GroupEntity, 'g')
      .innerJoin(MEMBERSHIPS, 'm', 'm.gid = g.gid')
      .where('m.uid = :uid', { uid })
      .orderBy('g.groupname', 'ASC')
      .getMany();
  }

  private async findUser(manager: EntityManager, uid: string): Promise<UserEntity> {
    const user = await manager.findOne(UserEntity, { where: { uid }, relations: { groups: true } });
    if (!user) throw new ApiError('USER_NOT_FOUND', `User ${uid} does not exist`);
    return user;
  }
}
