import { Body, Controller, Delete, Get, Put } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/swagger/api-errors.decorator';
import { Authenticated, CurrentUser } from './auth/authenticated.decorator';
import { AuthenticatedUser } from './auth/authenticated-user';
import { CreateUserDto, DeletedUserDto, mapUser, UserDto, UserIdDto, UserListDto } from './dto/user.dto';
import { UsersService } from './users.service';

@ApiTags('identity')
@Controller('u/user')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @ApiOperation({ summary: 'Create a user, their personal group, and memberships (usermanager).' })
  @Put()
  @Authenticated({ group: 'usermanager', apiTokens: 'refused' })
  @ApiOkResponse({ type: UserDto })
  @ApiErrors(['VALIDATION_FAILED', 'GROUP_NOT_FOUND', 'PROTECTED_GROUP', 'USERNAME_TAKEN', 'GROUPNAME_TAKEN'])
  async createUser(@CurrentUser() caller: AuthenticatedUser, @Body() body: CreateUserDto): Promise<UserDto> {
    return mapUser(await this.users.create(caller, body));
  }

  @ApiOperation({ summary: 'Delete a user with their personal group and everything it owns (usermanager).' })
  @Delete()
  @Authenticated({ group: 'usermanager', apiTokens: 'refused' })
  @ApiOkResponse({ type: DeletedUserDto })
  @ApiErrors(['VALIDATION_FAILED', 'USER_NOT_FOUND', 'PROTECTED_GROUP', 'GROUP_IN_USE'])
  async deleteUser(@CurrentUser() caller: AuthenticatedUser, @Body() body: UserIdDto): Promise<DeletedUserDto> {
    await this.users.delete(caller, body.uid);
    return { uid: body.uid };
  }

  @ApiOperation({ summary: 'The calling user.' })
  @Get()
  @Authenticated({ apiTokens: 'scoped' })
  @ApiOkResponse({ type: UserDto })
  async getCurrentUser(@CurrentUser() caller: AuthenticatedUser): Promise<UserDto> {
    return mapUser(await this.users.get(caller.uid));
  }

  @ApiOperation({ summary: 'Every user (usermanager).' })
  @Get('list')
  @Authenticated({ group: 'usermanager' })
  @ApiOkResponse({ type: UserListDto })
  async listUsers(): Promise<UserListDto> {
    return { users: (await this.users.list()).map(mapUser) };
  }
}
