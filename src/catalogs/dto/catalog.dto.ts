import { ApiProperty } from '@nestjs/swagger';
import { PageInfoDto, PageQueryDto } from '../../common/validation/page.dto';
import { TextField, UuidField } from '../../common/validation/fields';
import { CatalogAccess } from '../permissions/catalog-permissions.service';
import { PermissionsDto } from './share.dto';

const CID_EXAMPLE = '3f2a8c1e-7b4d-4e9a-a1c2-5d6e7f8a9b0c';

export class CreateCatalogDto {
  @UuidField({ description: 'The owning group (GID); the caller must be a member of it', example: '5a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d' })
  group: string;

  @TextField({ description: 'Catalog label', example: 'build machines', minLength: 1, maxLength: 128 })
  label: string;
}

export class CatalogIdDto {
  @UuidField({ description: 'Catalog id (CID)', example: CID_EXAMPLE })
  cid: string;
}

export class CatalogCreatedDto {
  @ApiProperty({ format: 'uuid', example: CID_EXAMPLE })
  cid: string;
}

export class DeletedCatalogDto {
  @ApiProperty({ format: 'uuid', example: CID_EXAMPLE })
  cid: string;
}

export class ListCatalogsQueryDto extends PageQueryDto {}

export class CatalogSummaryDto {
  @ApiProperty({ format: 'uuid', example: CID_EXAMPLE })
  cid: string;

  @ApiProperty({ example: 'build machines' })
  label: string;

  @ApiProperty({ format: 'uuid', description: 'The owning group', example: '5a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d' })
  gid: string;

  @ApiProperty({ description: 'Name of the owning group', example: 'developers' })
  groupname: string;

  @ApiProperty({ type: PermissionsDto, description: 'The caller\'s effective permissions on this catalog' })
  permissions: PermissionsDto;
}

export class CatalogListDto extends PageInfoDto {
  @ApiProperty({ type: [CatalogSummaryDto] })
  catalogs: CatalogSummaryDto[];
}

export function mapCatalogSummary(access: CatalogAccess): CatalogSummaryDto {
  return { cid: access.cid, label: access.label, gid: access.gid, groupname: access.groupname, permissions: { ...access.permissions } };
}
