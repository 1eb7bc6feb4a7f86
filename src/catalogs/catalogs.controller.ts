import { Body, Controller, Delete, Get, HttpCode, Post, Put, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/swagger/api-errors.decorator';
import { Authenticated, CurrentUser } from '../identity/auth/authenticated.decorator';
import { AuthenticatedUser } from '../identity/auth/authenticated-user';
import { CatalogsService } from './catalogs.service';
import {
  CatalogCreatedDto,
  DeletedCatalogDto,
  CatalogIdDto,
  CatalogListDto,
  CreateCatalogDto,
  ListCatalogsQueryDto,
  mapCatalogSummary,
} from './dto/catalog.dto';
import { CatalogShareDto, mapShare, RevokedShareDto, RevokeShareDto, ShareCatalogDto, ShareListDto } from './dto/share.dto';
import { RequireCatalogPermission } from './permissions/require-catalog-permission.decorator';

@ApiTags('catalogs')
@Controller('c')
export class CatalogsController {
  constructor(private readonly catalogs: CatalogsService) {}

  @ApiOperation({ summary: 'Create a catalog owned by one of the caller\'s groups (catalogmanager).' })
  @Put()
  @Authenticated({ group: 'catalogmanager' })
  @ApiOkResponse({ type: CatalogCreatedDto })
  @ApiErrors(['VALIDATION_FAILED', 'GROUP_NOT_FOUND'])
  async createCatalog(@CurrentUser() caller: AuthenticatedUser, @Body() body: CreateCatalogDto): Promise<CatalogCreatedDto> {
    const catalog = await this.catalogs.create(caller, body.group, body.label);
    return { cid: catalog.cid };
  }

  @ApiOperation({ summary: 'Remove a catalog with its VMs and shares (catalogmanager, and `manage` on the catalog).' })
  @Delete()
  @RequireCatalogPermission('manage', { group: 'catalogmanager' })
  @ApiOkResponse({ type: DeletedCatalogDto })
  async deleteCatalog(@Body() body: CatalogIdDto): Promise<DeletedCatalogDto> {
    await this.catalogs.delete(body.cid);
    return { cid: body.cid };
  }

  @ApiOperation({ summary: 'The catalogs the caller can see, with the caller\'s permissions on each (an API token: those of its scope, narrowed to it).' })
  @Get('list')
  @Authenticated({ apiTokens: 'scoped' })
  @ApiOkResponse({ type: CatalogListDto })
  @ApiErrors(['VALIDATION_FAILED'])
  async listCatalogs(@CurrentUser() caller: AuthenticatedUser, @Query() query: ListCatalogsQueryDto): Promise<CatalogListDto> {
    const { items, total } = await this.catalogs.list(caller, query);
    return { catalogs: items.map(mapCatalogSummary), total, limit: query.limit, offset: query.offset };
  }

  @ApiOperation({ summary: 'List a catalog\'s shares (`manage`).' })
  @Get('share')
  @RequireCatalogPermission('manage')
  @ApiOkResponse({ type: ShareListDto })
  async listShares(@Query() query: CatalogIdDto): Promise<ShareListDto> {
    return { cid: query.cid, shares: (await this.catalogs.listShares(query.cid)).map(mapShare) };
  }

  @ApiOperation({ summary: 'Share a catalog with a group, or replace an existing share\'s permissions (`manage`).' })
  @Post('share')
  @HttpCode(200)
  @RequireCatalogPermission('manage')
  @ApiOkResponse({ type: CatalogShareDto })
  @ApiErrors(['GROUP_NOT_FOUND'])
  async shareCatalog(@Body() body: ShareCatalogDto): Promise<CatalogShareDto> {
    const { cid, ...share } = body;
    return { cid, ...mapShare(await this.catalogs.share(cid, share)) };
  }

  @ApiOperation({ summary: 'Revoke a group\'s share (`manage`).' })
  @Delete('share')
  @RequireCatalogPermission('manage')
  @ApiOkResponse({ type: RevokedShareDto })
  @ApiErrors(['SHARE_NOT_FOUND'])
  async revokeShare(@Body() body: RevokeShareDto): Promise<RevokedShareDto> {
    await this.catalogs.revoke(body.cid, body.gid);
    return { cid: body.cid, gid: body.gid };
  }
}
