import { Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/swagger/api-errors.decorator';
import { Authenticated, CurrentUser } from '../identity/auth/authenticated.decorator';
import { AuthenticatedUser } from '../identity/auth/authenticated-user';
import { GroupIdDto } from '../identity/dto/group.dto';
import { GroupQuotaDto, limitChanges, mapGroupQuota, SetGroupQuotaDto } from './dto/group-quota.dto';
import { GroupQuotasService } from './group-quotas.service';

@ApiTags('identity')
@Controller('u/group/quota')
export class GroupQuotasController {
  constructor(private readonly quotas: GroupQuotasService) {}

  @ApiOperation({
    summary: 'Set a group\'s limits (usermanager; the root group\'s only by root).',
    description:
      'A number sets a limit, null removes it, a limit left out stays. Units: `memory` in MiB, `storage` in bytes. A limit below the current use is ' +
      'allowed and refuses further growth: creating, growing, cloning or uploading beyond a limit answers 422 `QUOTA_EXCEEDED`.',
  })
  @Post()
  @HttpCode(200)
  @Authenticated({ group: 'usermanager', apiTokens: 'refused' })
  @ApiOkResponse({ type: GroupQuotaDto })
  @ApiErrors(['VALIDATION_FAILED', 'GROUP_NOT_FOUND', 'PROTECTED_GROUP'])
  async setGroupQuota(@CurrentUser() caller: AuthenticatedUser, @Body() body: SetGroupQuotaDto): Promise<GroupQuotaDto> {
    return mapGroupQuota(await this.quotas.set(caller, body.gid, limitChanges(body)));
  }

  @ApiOperation({ summary: 'A group\'s limits and current use (usermanager, or a member of the group).' })
  @Get()
  @Authenticated()
  @ApiOkResponse({ type: GroupQuotaDto })
  @ApiErrors(['VALIDATION_FAILED', 'GROUP_NOT_FOUND'])
  async getGroupQuota(@CurrentUser() caller: AuthenticatedUser, @Query() query: GroupIdDto): Promise<GroupQuotaDto> {
    return mapGroupQuota(await this.quotas.show(caller, query.gid));
  }
}
