import { Body, Controller, Delete, HttpCode, Patch, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { BodyLimit } from '../../common/http/body-limit';
import { ApiErrors } from '../../common/swagger/api-errors.decorator';
import { PresentedAuthkey, Public } from './authenticated.decorator';
import { AuthkeysService } from './authkeys.service';
import { LoginRateLimitGuard } from './login-rate-limit.guard';
import { AuthkeyDto, LoginDto, LogoutResponseDto } from '../dto/auth.dto';

/**
 * Anyone may call these routes, so they read small bodies only: the largest valid one, a
 * login with a 64-character username and a 1024-character password written entirely in
 * `\uXXXX` escapes, is under 7 KiB.
 */
const AUTH_BODY_LIMIT = 8 * 1024;

@ApiTags('identity')
@Controller('u/auth')
export class AuthController {
  constructor(private readonly authkeys: AuthkeysService) {}

  @ApiOperation({ summary: 'Log in with username and password; returns a new authkey.' })
  @Public()
  @Post()
  @BodyLimit(AUTH_BODY_LIMIT)
  @HttpCode(200)
  @UseGuards(LoginRateLimitGuard)
  @ApiOkResponse({ type: AuthkeyDto })
  @ApiErrors(['VALIDATION_FAILED', 'BODY_TOO_LARGE', 'INVALID_CREDENTIALS', 'RATE_LIMITED'])
  login(@Body() body: LoginDto): Promise<AuthkeyDto> {
    return this.authkeys.login(body.username, body.password);
  }

  @ApiOperation({ summary: 'Renew an authkey: returns a new key and invalidates the presented one at once (not for API tokens: 401).' })
  @Public({ apiTokens: 'refused' })
  @Patch()
  @BodyLimit(AUTH_BODY_LIMIT)
  @ApiBearerAuth('authkey')
  @ApiOkResponse({ type: AuthkeyDto })
  @ApiErrors(['AUTHKEY_INVALID', 'PERMISSION_DENIED'])
  renewAuthkey(@PresentedAuthkey() key: string | undefined): Promise<AuthkeyDto> {
    return this.authkeys.renew(key);
  }

  @ApiOperation({ summary: 'Log out: the presented authkey stops working (200 even when it was unknown; an API token is refused: 401, revoke it with DELETE /u/token).' })
  @Public({ apiTokens: 'refused' })
  @Delete()
  @BodyLimit(AUTH_BODY_LIMIT)
  @ApiBearerAuth('authkey')
  @ApiOkResponse({ type: LogoutResponseDto })
  @ApiErrors(['PERMISSION_DENIED'])
  async logout(@PresentedAuthkey() key: string | undefined): Promise<LogoutResponseDto> {
    await this.authkeys.revoke(key);
    return { revoked: true };
  }
}
