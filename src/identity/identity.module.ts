import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CatalogsModule } from '../catalogs/catalogs.module';
import { CatalogAccessModule } from '../catalogs/permissions/catalog-access.module';
import { ResourcesModule } from '../resources/resources.module';
import { VmsRepositoryModule } from '../vms/vms-repository.module';
import { ApiTokensController } from './api-tokens.controller';
import { ApiTokensService } from './api-tokens.service';
import { AuthModule } from './auth/auth.module';
import { GroupEntity } from './entities/group.entity';
import { UserEntity } from './entities/user.entity';
import { GroupContentsService } from './group-contents.service';
import { GroupsController } from './groups.controller';
import { GroupsService } from './groups.service';
import { IdentityBootstrapService } from './identity-bootstrap.service';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

/**
 * Users, groups and memberships (`/u/user`, `/u/group`), users' API tokens (`/u/token`), and
 * the first start's `root`.
 * Deleting a group deletes what it owns in the catalogs and resources modules, so this
 * module builds on them (authkeys and the guard are AuthModule's, which they build on).
 */
@Module({
  imports: [TypeOrmModule.forFeature([UserEntity, GroupEntity]), AuthModule, CatalogAccessModule, CatalogsModule, ResourcesModule, VmsRepositoryModule],
  controllers: [UsersController, GroupsController, ApiTokensController],
  providers: [UsersService, GroupsService, ApiTokensService, GroupContentsService, IdentityBootstrapService],
})
export class IdentityModule {}
