import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, ArrayUnique, IsArray, IsIn, IsOptional, ValidateNested } from 'class-validator';
import { CATALOG_PERMISSIONS, CatalogPermission } from '../../catalogs/permissions/catalog-permission';
import { BooleanField, IntegerField, NameField, UuidField } from '../../common/validation/fields';
import { ApiTokenEntity } from '../entities/api-token.entity';

const TOKEN_ID_EXAMPLE = '7c3e1b2a-9d4f-4e6a-8b5c-1a2b3c4d5e6f';
const CID_EXAMPLE = '3f2a8c1e-7b4d-4e9a-a1c2-5d6e7f8a9b0c';
const UID_EXAMPLE = '0b6f4c9e-3a52-4a8e-9d1e-6f3b2a1c0d9e';
/** Catalogs one token may name. */
export const MAX_TOKEN_CATALOGS = 100;
/** 9999-12-31T23:59:59Z: the furthest expiry taken. */
const MAX_EXPIRY = 253_402_300_799;

/** One catalog of a token's scope. */
export class ApiTokenCatalogDto {
  @UuidField({ description: 'Catalog id (CID); the caller must hold each permission below on it', example: CID_EXAMPLE })
  cid: string;

  @ApiProperty({
    type: 'array',
    items: { type: 'string', enum: [...CATALOG_PERMISSIONS] },
    minItems: 1,
    maxItems: CATALOG_PERMISSIONS.length,
    uniqueItems: true,
    description: 'The permissions the token may use on the catalog (never more than its user holds there at the time of a request)',
    example: ['view', 'state'],
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(CATALOG_PERMISSIONS.length)
  @ArrayUnique()
  @IsIn(CATALOG_PERMISSIONS, { each: true })
  permissions: CatalogPermission[];
}

/** One catalog of a token's scope, as replies show it (a schema apart from the request's, which is closed). */
export class ApiTokenCatalogScopeDto {
  @ApiProperty({ format: 'uuid', example: CID_EXAMPLE })
  cid: string;

  @ApiProperty({ type: 'array', items: { type: 'string', enum: [...CATALOG_PERMISSIONS] }, example: ['view', 'state'] })
  permissions: CatalogPermission[];
}

function TokenCatalogsField() {
  return applyDecorators(
    ApiPropertyOptional({
      type: [ApiTokenCatalogDto],
      maxItems: MAX_TOKEN_CATALOGS,
      description:
        'Limits the token to these catalogs (each named once), each with a subset of the seven permissions; it is then refused everything beyond them (resources, catalog creation, user and group lists). Left out: every catalog, with the user\'s permissions.',
    }),
    IsOptional(),
    IsArray(),
    ArrayMaxSize(MAX_TOKEN_CATALOGS),
    ArrayUnique((scope: ApiTokenCatalogDto) => scope?.cid, { message: '$property must name each catalog once' }),
    ValidateNested({ each: true }),
    Type(() => ApiTokenCatalogDto),
  );
}

/** PUT /u/token. */
export class CreateApiTokenDto {
  @NameField({ description: 'A name for the token, unique among the caller\'s tokens', example: 'ci-runner' })
  name: string;

  @IntegerField({ description: 'When the token stops working, in unix seconds (in the future); left out: when it is revoked', example: 1767225600, min: 1, max: MAX_EXPIRY, optional: true })
  expires?: number;

  @BooleanField({ description: 'Only requests that change nothing (GET); default false', example: false, optional: true })
  read_only = false;

  @TokenCatalogsField()
  catalogs?: ApiTokenCatalogDto[];
}

/** GET /u/token. */
export class ListApiTokensQueryDto {
  @UuidField({ description: 'Whose tokens (root only, for another user); default the caller\'s', example: UID_EXAMPLE, optional: true })
  uid?: string;
}

/** DELETE /u/token. */
export class ApiTokenIdDto {
  @UuidField({ description: 'Token id', example: TOKEN_ID_EXAMPLE })
  id: string;
}

export class ApiTokenDto {
  @ApiProperty({ format: 'uuid', example: TOKEN_ID_EXAMPLE, description: 'The token\'s id: what logs name it by' })
  id: string;

  @ApiProperty({ format: 'uuid', example: UID_EXAMPLE, description: 'The user the token acts as' })
  uid: string;

  @ApiProperty({ example: 'ci-runner' })
  name: string;

  @ApiProperty({ type: 'integer', nullable: true, example: 1767225600, description: 'Unix seconds; null: until revoked' })
  expires: number | null;

  @ApiProperty({ example: false, description: 'Only requests that change nothing' })
  read_only: boolean;

  @ApiProperty({ type: [ApiTokenCatalogScopeDto], nullable: true, description: 'The catalogs the token is limited to; null: every catalog, with the user\'s permissions' })
  catalogs: ApiTokenCatalogScopeDto[] | null;

  @ApiProperty({ type: 'integer', example: 1764662400, description: 'Unix seconds' })
  created: number;
}

export class ApiTokenCreatedDto extends ApiTokenDto {
  @ApiProperty({
    example: 'vtk_J7m2cQ9x1bV4nR8tY6uW3zK5pL0aS2dF4gH6jK8lZ1x',
    description: 'The secret, shown this once (only its hash is kept): send it wherever an authkey goes (Authorization: Bearer, or the authkey field)',
  })
  secret: string;
}

export class ApiTokenListDto {
  @ApiProperty({ type: [ApiTokenDto] })
  tokens: ApiTokenDto[];
}

export class RevokedApiTokenDto {
  @ApiProperty({ format: 'uuid', example: TOKEN_ID_EXAMPLE })
  id: string;
}

export function mapApiToken(token: ApiTokenEntity): ApiTokenDto {
  return {
    id: token.id,
    uid: token.uid,
    name: token.name,
    expires: token.expiresAt,
    read_only: token.readOnly,
    catalogs: token.catalogs,
    created: Math.floor(token.createdAt.getTime() / 1000),
  };
}
