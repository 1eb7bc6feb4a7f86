import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { Repository } from 'typeorm';
import { RequestAudit } from '../audit/request-audit';
import { ApiError } from '../common/errors/api-error';
import { UnitOfWork } from '../database/unit-of-work';
import { refuseWhileInUse } from './refuse-while-in-use';
import { AuthenticatedUser } from './auth/authenticated-user';
import { AccessChanges } from '../common/access-changes';
import { PasswordHasher } from './auth/password-hasher';
import { GroupEntity } from './entities/group.entity';
import { UserEntity } from './entities/user.entity';
import { GroupContentsService } from './group-contents.service';
import { GroupsService } from './groups.service';

export interface NewUser {
  username: string;
  password: string;
  groups: string[];
}

/** Users; each user comes with a personal group of the same name. */
@Injectable()
export class UsersService {
  constructor(
    @InjectRepository(UserEntity) private readonly users: Repository<UserEntity>,
    private readonly groups: GroupsService,
    private readonly unitOfWork: UnitOfWork,
    private readonly accessChanges: AccessChanges,
    private readonly groupContents: GroupContentsService,
    private readonly passwords: PasswordHasher,
  ) {}

  async create(caller: AuthenticatedUser, input: NewUser): Promise<UserEntity> {
    // Hash outside the transaction: it takes tens of milliseconds and needs no lock.
    const passwordHash = await this.passwords.hash(input.password);
    return this.unitOfWork.run(async (manager) => {
      if (await manager.existsBy(UserEntity, { username: input.username })) {
        throw new ApiError('USERNAME_TAKEN', `A user named ${input.username} already exists`);
      }
      await this.groups.assertNameFree(manager, input.username);
      const extra = await this.groups.findGroups(manager, input.groups);
      this.groups.assertMayChange(caller, extra, 'assign');
      const uid = RequestAudit.newId();
      await manager.insert(UserEntity, { uid, username: input.username, passwordHash });
      const personal = manager.create(GroupEntity, {
        gid: randomUUID(),
        groupname: input.username,
        special: null,
        personalUid: uid,
      });
      await manager.save(personal);
      await manager
        .createQueryBuilder()
        .relation(UserEntity, 'groups')
        .of(uid)
        .add([personal.gid, ...extra.map((g) => g.gid)]);
      return this.load(manager.getRepository(UserEntity), uid);
    });
  }

  /**
   * Deletes the user with what their personal group owns (catalogs and their VMs, storage);
   * the database cascades to the group, memberships and keys.
   */
  async delete(caller: AuthenticatedUser, uid: string): Promise<void> {
    const user = await this.load(this.users, uid);
    if (user.username === 'root') throw new ApiError('PROTECTED_GROUP', 'The root user cannot be deleted');
    this.groups.assertMayChange(caller, user.groups, 'revoke');
    const personal = user.groups.filter((g) => g.personalUid === uid).map((g) => g.gid);
    try {
      const afterwards = await this.groupContents.removeContents(personal);
      await this.unitOfWork.run((manager) => manager.delete(UserEntity, { uid }).catch(refuseWhileInUse));
      await afterwards();
    } finally {
      this.accessChanges.publish({ kind: 'memberships-changed' });
      for (const gid of personal) this.accessChanges.publish({ kind: 'group-deleted', gid });
    }
  }

  get(uid: string): Promise<UserEntity> {
    return this.load(this.users, uid);
  }

  list(): Promise<UserEntity[]> {
    return this.users.find({ relations: { groups: true }, order: { username: 'ASC' } });
  }

  private async load(repository: Repository<UserEntity>, uid: string): Promise<UserEntity> {
    const user = await repository.findOne({ where: { uid }, relations: { groups: true } });
    if (!user) throw new ApiError('USER_NOT_FOUND', `User ${uid} does not exist`);
    return user;
  }
}
