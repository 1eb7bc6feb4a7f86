import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { PassportModule } from '@nestjs/passport';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthController } from './auth.controller';
import { AuthkeyCache } from './auth/authkey-cache';
import { AuthkeyGuard } from './auth/authkey.guard';
import { AuthkeyStrategy } from './auth/authkey.strategy';
import { AuthkeysService } from './authkeys.service';
import { AuthkeyEntity } from './entities/authkey.entity';
import { GroupEntity } from './entities/group.entity';
import { UserEntity } from './entities/user.entity';
import { GroupDeletionHooks } from './group-deletion-hooks';
import { GroupsController } from './groups.controller';
import { GroupsService } from './groups.service';
import { IdentityBootstrapService } from './identity-bootstrap.service';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

/** Users, groups, memberships and authkeys (`/u`), and the global authkey guard. */
@Module({
  imports: [PassportModule, TypeOrmModule.forFeature([UserEntity, GroupEntity, AuthkeyEntity])],
  controllers: [AuthController, UsersController, GroupsController],
  providers: [
    AuthkeyCache,
    GroupDeletionHooks,
    AuthkeysService,
    UsersService,
    GroupsService,
    AuthkeyStrategy,
    IdentityBootstrapService,
    { provide: APP_GUARD, useClass: AuthkeyGuard },
  ],
  exports: [GroupsService, AuthkeysService, GroupDeletionHooks],
})
export class IdentityModule {}
