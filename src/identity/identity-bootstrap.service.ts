import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { randomBytes, randomUUID } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { UnitOfWork } from '../database/unit-of-work';
import { PasswordHasher } from './auth/password-hasher';
import { GroupEntity, SPECIAL_GROUPS } from './entities/group.entity';
import { UserEntity } from './entities/user.entity';

/** On the first start: the four special groups and the `root` user in group `root`. */
@Injectable()
export class IdentityBootstrapService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Identity');

  constructor(
    private readonly unitOfWork: UnitOfWork,
    private readonly config: AppConfig,
    private readonly passwords: PasswordHasher,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const generated = this.config.adminPassword ? undefined : randomBytes(18).toString('base64url');
    const created = await this.unitOfWork.run(async (manager) => {
      const existing = await manager.findBy(GroupEntity, {});
      for (const special of SPECIAL_GROUPS) {
        if (!existing.some((g) => g.special === special)) {
          await manager.insert(GroupEntity, { gid: randomUUID(), groupname: special, special, personalUid: null });
        }
      }
      if (await manager.existsBy(UserEntity, { username: 'root' })) return false;
      const uid = randomUUID();
      const passwordHash = await this.passwords.hash(this.config.adminPassword ?? generated!);
      await manager.insert(UserEntity, { uid, username: 'root', passwordHash });
      const rootGroup = await manager.findOneByOrFail(GroupEntity, { special: 'root' });
      await manager.createQueryBuilder().relation(UserEntity, 'groups').of(uid).add(rootGroup.gid);
      return true;
    });
    if (created && generated) {
      this.logger.warn(`Created user "root" with generated password: ${generated} (set VELOCITY_ADMIN_PASSWORD to choose it)`);
    } else if (created) {
      this.logger.log('Created user "root" with the password from VELOCITY_ADMIN_PASSWORD');
    }
  }
}
