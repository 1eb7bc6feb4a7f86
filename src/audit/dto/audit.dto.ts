import { ApiProperty } from '@nestjs/swagger';
import { DateTimeField, UuidField } from '../../common/validation/fields';
import { PageInfoDto, PageQueryDto } from '../../common/validation/page.dto';
import { NullableStringProperty } from '../../common/swagger/nullable-property';
import { AuditRecordEntity } from '../audit-record.entity';

const UID_EXAMPLE = '8d3f1c2a-5b6e-4f7a-9c8d-1e2f3a4b5c6d';

export class ListAuditQueryDto extends PageQueryDto {
  @UuidField({ description: 'Only the records of this user (UID)', example: UID_EXAMPLE, optional: true })
  user?: string;

  @UuidField({ description: 'Only the records naming this id among their targets (a CID, VMID, GID, UID, STID or NICID)', example: UID_EXAMPLE, optional: true })
  target?: string;

  @DateTimeField({ description: 'Only records from this time on (inclusive), e.g. 2026-12-01T00:00:00Z', example: '2026-12-01T00:00:00Z', optional: true })
  from?: string;

  @DateTimeField({ description: 'Only records up to this time (inclusive)', example: '2026-12-02T00:00:00Z', optional: true })
  to?: string;
}

export class AuditRecordDto {
  @ApiProperty({ description: 'Increases with every record', example: 42 })
  id: number;

  @ApiProperty({ format: 'date-time', description: 'When the request arrived', example: '2026-12-02T10:15:30.123Z' })
  at: string;

  @NullableStringProperty({ format: 'uuid', description: 'The authenticated caller; null without a valid authkey' })
  uid: string | null;

  @NullableStringProperty({ description: 'The caller\'s username; for a login, the username it was attempted with' })
  username: string | null;

  @NullableStringProperty({ description: 'The API token the caller used, by id' })
  token_id: string | null;

  @NullableStringProperty({ description: 'The client address (the forwarded one behind a trusted proxy)' })
  address: string | null;

  @NullableStringProperty({ description: 'The operationId of the route in this document; null for a WebSocket path without one' })
  operation: string | null;

  @ApiProperty({ example: 'PUT' })
  method: string;

  @ApiProperty({ description: 'The request path (base path included), without the query', example: '/v/efi' })
  path: string;

  @ApiProperty({ type: [String], description: 'Ids the request named or its answer created', example: [UID_EXAMPLE] })
  targets: string[];

  @ApiProperty({ description: 'The HTTP status of the answer; 499 when the client left before it', example: 200 })
  status: number;

  @NullableStringProperty({ description: 'The `code` of an error answer' })
  error_code: string | null;

  @ApiProperty({ description: 'The request id (X-Request-Id) of the access log line', example: '7c9e6679-7425-40de-944b-e07fc1f90ae7' })
  request_id: string;
}

export class AuditListDto extends PageInfoDto {
  @ApiProperty({ type: [AuditRecordDto], description: 'Newest first' })
  records: AuditRecordDto[];
}

export function mapAuditRecord(record: AuditRecordEntity & { targets: string[] }): AuditRecordDto {
  return {
    id: record.id,
    at: new Date(record.at).toISOString(),
    uid: record.uid,
    username: record.username,
    token_id: record.tokenId,
    address: record.address,
    operation: record.operation,
    method: record.method,
    path: record.path,
    targets: record.targets,
    status: record.status,
    error_code: record.errorCode,
    request_id: record.requestId,
  };
}
