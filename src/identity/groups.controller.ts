import { Body, Controller, Delete, Get, Put } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/swagger/api-errors.decorator';
import { Authenticated, CurrentUser } from './auth/authenticated.decorator';
import { AuthenticatedUser } from './auth/authenticated-user';
import {
  CreateGroupDto,
  DeletedGroupDto,
  GroupDto,
  GroupIdDto,
  GroupListDto,
  mapGroup,
  MembershipDto,
  MembershipResultDto,
} from './dto/group.dto';
import { GroupsService } from './groups.service';

@ApiTags('identity')
@Controller('u/group')
export class GroupsController {
  constructor(private readonly groups: GroupsService) {}

  @ApiOperation({ summary: 'Create a group (usermanager).' })
  @Put()
  @Authenticated({ group: 'usermanager', apiTokens: 'refused' })
  @ApiOkResponse({ type: GroupDto })
  @ApiErrors(['VALIDATION_FAILED', 'GROUPNAME_TAKEN'])
  async createGroup(@Body() body: CreateGroupDto): Promise<GroupDto> {
    return mapGroup(await this.groups.create(body.groupname));
  }

  @ApiOperation({ summary: 'Delete a group; special and personal groups cannot be deleted (usermanager).' })
  @Delete()
  @Authenticated({ group: 'usermanager', apiTokens: 'refused' })
  @ApiOkResponse({ type: DeletedGroupDto })
  @ApiErrors(['VALIDATION_FAILED', 'GROUP_NOT_FOUND', 'PROTECTED_GROUP', 'GROUP_IN_USE'])
  async deleteGroup(@Body() body: GroupIdDto): Promise<DeletedGroupDto> {
    await this.groups.delete(body.gid);
    return { gid: body.gid };
  }

  @ApiOperation({ summary: 'Groups: all of them for usermanager, else the caller\'s own.' })
  @Get('list')
  @Authenticated()
  @ApiOkResponse({ type: GroupListDto })
  async listGroups(@CurrentUser() caller: AuthenticatedUser): Promise<GroupListDto> {
    return { groups: (await this.groups.list(caller)).map(mapGroup) };
  }

  @ApiOperation({ summary: 'Add a user to groups; only root may assign the root group (usermanager).' })
  @Put('assign')
  @Authenticated({ group: 'usermanager', apiTokens: 'refused' })
  @ApiOkResponse({ type: MembershipResultDto })
  @ApiErrors(['VALIDATION_FAILED', 'USER_NOT_FOUND', 'GROUP_NOT_FOUND', 'PROTECTED_GROUP'])
  async assignGroups(@CurrentUser() caller: AuthenticatedUser, @Body() body: MembershipDto): Promise<MembershipResultDto> {
    return { uid: body.uid, groups: (await this.groups.assign(caller, body.uid, body.groups)).map(mapGroup) };
  }

  @ApiOperation({ summary: 'Remove a user from groups; not from their personal group, root only by root (usermanager).' })
  @Delete('assign')
  @Authenticated({ group: 'usermanager', apiTokens: 'refused' })
  @ApiOkResponse({ type: MembershipResultDto })
  @ApiErrors(['VALIDATION_FAILED', 'USER_NOT_FOUND', 'GROUP_NOT_FOUND', 'PROTECTED_GROUP'])
  async revokeGroups(@CurrentUser() caller: AuthenticatedUser, @Body() body: MembershipDto): Promise<MembershipResultDto> {
    return { uid: body.uid, groups: (await this.groups.unassign(caller, body.uid, body.groups)).map(mapGroup) };
  }
}
