import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/swagger/api-errors.decorator';
import { Authenticated } from '../identity/auth/authenticated.decorator';
import { AuditService } from './audit.service';
import { AuditListDto, ListAuditQueryDto, mapAuditRecord } from './dto/audit.dto';

@ApiTags('audit')
@Controller('audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @ApiOperation({
    summary: 'The audit log, newest first (root): requests that change something, refused requests, failed logins, refused WebSocket upgrades.',
  })
  @Get()
  @Authenticated({ group: 'root' })
  @ApiOkResponse({ type: AuditListDto })
  @ApiErrors(['VALIDATION_FAILED'])
  async listAudit(@Query() query: ListAuditQueryDto): Promise<AuditListDto> {
    const { records, total } = await this.audit.list({
      uid: query.user,
      target: query.target,
      from: query.from === undefined ? undefined : Date.parse(query.from),
      to: query.to === undefined ? undefined : Date.parse(query.to),
      limit: query.limit,
      offset: query.offset,
    });
    return { records: records.map(mapAuditRecord), total, limit: query.limit, offset: query.offset };
  }
}
