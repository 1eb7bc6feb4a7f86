import { ApiProperty } from '@nestjs/swagger';
import { BooleanField, UuidField } from '../../common/validation/fields';
import { CATALOG_PERMISSIONS, Share } from '../permissions/catalog-permission';

const CID_EXAMPLE = '3f2a8c1e-7b4d-4e9a-a1c2-5d6e7f8a9b0c';
const GID_EXAMPLE = '5a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

export class PermissionsDto {
  @ApiProperty({ description: 'Can manage the catalog (shares)', example: true }) manage: boolean;
  @ApiProperty({ description: 'Can see the catalog\'s virtual machines', example: true }) view: boolean;
  @ApiProperty({ description: 'Can create virtual machines', example: true }) create: boolean;
  @ApiProperty({ description: 'Can alter virtual machines', example: false }) alter: boolean;
  @ApiProperty({ description: 'Can remove virtual machines', example: false }) remove: boolean;
  @ApiProperty({ description: 'Can change virtual machines\' state', example: true }) state: boolean;
  @ApiProperty({ description: 'Can interact with virtual machines (console, screenshots)', example: true }) interact: boolean;
}

/** POST /c/share: flags left out are false, because a share update replaces every flag. */
export class ShareCatalogDto {
  @UuidField({ description: 'Catalog id (CID)', example: CID_EXAMPLE })
  cid: string;

  @UuidField({ description: 'The group to share with (GID)', example: GID_EXAMPLE })
  gid: string;

  @BooleanField({ description: 'Can manage the catalog (shares); default false', example: false, optional: true }) manage = false;
  @BooleanField({ description: 'Can see the catalog\'s virtual machines; default false', example: true, optional: true }) view = false;
  @BooleanField({ description: 'Can create virtual machines; default false', example: false, optional: true }) create = false;
  @BooleanField({ description: 'Can alter virtual machines; default false', example: false, optional: true }) alter = false;
  @BooleanField({ description: 'Can remove virtual machines; default false', example: false, optional: true }) remove = false;
  @BooleanField({ description: 'Can change virtual machines\' state; default false', example: true, optional: true }) state = false;
  @BooleanField({ description: 'Can interact with virtual machines; default false', example: true, optional: true }) interact = false;
}

export class RevokeShareDto {
  @UuidField({ description: 'Catalog id (CID)', example: CID_EXAMPLE })
  cid: string;

  @UuidField({ description: 'The group whose share to revoke (GID)', example: GID_EXAMPLE })
  gid: string;
}

export class ShareDto extends PermissionsDto {
  @ApiProperty({ format: 'uuid', example: GID_EXAMPLE })
  gid: string;
}

export class ShareListDto {
  @ApiProperty({ format: 'uuid', example: CID_EXAMPLE })
  cid: string;

  @ApiProperty({ type: [ShareDto] })
  shares: ShareDto[];
}

export class CatalogShareDto extends ShareDto {
  @ApiProperty({ format: 'uuid', example: CID_EXAMPLE })
  cid: string;
}

export class RevokedShareDto {
  @ApiProperty({ format: 'uuid', example: CID_EXAMPLE })
  cid: string;

  @ApiProperty({ format: 'uuid', example: GID_EXAMPLE })
  gid: string;
}

export function mapShare(share: Share): ShareDto {
  return { gid: share.gid, ...Object.fromEntries(CATALOG_PERMISSIONS.map((p) => [p, Boolean(share[p])])) } as ShareDto;
}
