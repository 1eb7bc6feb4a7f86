import { Body, Controller, Delete, Get, Put, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/swagger/api-errors.decorator';
import { ApiTokensService } from './api-tokens.service';
import { Authenticated, CurrentUser } from './auth/authenticated.decorator';
import { AuthenticatedUser } from './auth/authenticated-user';
import {
  ApiTokenCreatedDto,
  ApiTokenIdDto,
  ApiTokenListDto,
  CreateApiTokenDto,
  ListApiTokensQueryDto,
  mapApiToken,
  RevokedApiTokenDto,
} from './dto/api-token.dto';

/** API tokens for programs; managed with an authkey only (a token cannot make or revoke tokens). */
@ApiTags('identity')
@Controller('u/token')
export class ApiTokensController {
  constructor(private readonly tokens: ApiTokensService) {}

  @ApiOperation({
    summary: 'Create an API token for yourself; its secret is in this reply only.',
    description:
      'The token acts as you wherever an authkey goes (Bearer header, `authkey` body field or query parameter), never with more rights than you have at the time of each request. `catalogs` limits it to those catalogs and permissions (everything beyond them is refused); `read_only` to GET requests. Tokens cannot manage tokens, users, groups or memberships, nor renew or drop authkeys (401 PERMISSION_DENIED).',
  })
  @Put()
  @Authenticated({ apiTokens: 'refused' })
  @ApiOkResponse({ type: ApiTokenCreatedDto })
  @ApiErrors(['VALIDATION_FAILED', 'CATALOG_NOT_FOUND', 'TOKEN_NAME_TAKEN'])
  async createApiToken(@CurrentUser() caller: AuthenticatedUser, @Body() body: CreateApiTokenDto): Promise<ApiTokenCreatedDto> {
    const { token, secret } = await this.tokens.create(caller, { name: body.name, expires: body.expires, readOnly: body.read_only, catalogs: body.catalogs });
    return { ...mapApiToken(token), secret };
  }

  @ApiOperation({ summary: 'Your API tokens (root: another user\'s, with `uid`), without their secrets.' })
  @Get()
  @Authenticated({ apiTokens: 'refused' })
  @ApiOkResponse({ type: ApiTokenListDto })
  @ApiErrors(['VALIDATION_FAILED'])
  async listApiTokens(@CurrentUser() caller: AuthenticatedUser, @Query() query: ListApiTokensQueryDto): Promise<ApiTokenListDto> {
    return { tokens: (await this.tokens.list(caller, query.uid)).map(mapApiToken) };
  }

  @ApiOperation({ summary: 'Revoke one of your API tokens (root: anyone\'s); it stops working at once, open streams included.' })
  @Delete()
  @Authenticated({ apiTokens: 'refused' })
  @ApiOkResponse({ type: RevokedApiTokenDto })
  @ApiErrors(['VALIDATION_FAILED', 'TOKEN_NOT_FOUND'])
  async revokeApiToken(@CurrentUser() caller: AuthenticatedUser, @Body() body: ApiTokenIdDto): Promise<RevokedApiTokenDto> {
    await this.tokens.revoke(caller, body.id);
    return { id: body.id };
  }
}
