import { Body, Controller, Delete, HttpCode, Patch, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../../common/swagger/api-errors.decorator';
import { PresentedAuthkey, Public } from './authenticated.decorator';
import { AuthkeysService } from './authkeys.service';
import { LoginRateLimitGuard } from './login-rate-limit.guard';
import { AuthkeyDto, LoginDto, LogoutResponseDto } from '../dto/auth.dto';

@ApiTags('identity')
@Controller('u/auth')
export class AuthController {
  constructor(private readonly authkeys: AuthkeysService) {}

  @ApiOperation({ summary: 'Log in with username and password; returns a new authkey.' })
  @Public()
  @Post()
  @HttpCode(200)
  @UseGuards(LoginRateLimitGuard)
  @ApiOkResponse({ type: AuthkeyDto })
  @ApiErrors(['VALIDATION_FAILED', 'INVALID_CREDENTIALS', 'RATE_LIMITED'])
  login(@Body() body: LoginDto): Promise<AuthkeyDto> {
    return this.authkeys.login(body.username, body.password);
  }

  @ApiOperation({ summary: 'Renew an authkey: returns a new key and invalidates the presented one at once.' })
  @Public()
  @Patch()
  @ApiBearerAuth('authkey')
  @ApiOkResponse({ type: AuthkeyDto })
  @ApiErrors(['AUTHKEY_INVALID'])
  renewAuthkey(@PresentedAuthkey() key: string | undefined): Promise<AuthkeyDto> {
    return this.authkeys.renew(key);
  }

  @ApiOperation({ summary: 'Log out: the presented authkey stops working (200 even when it was unknown).' })
  @Public()
  @Delete()
  @ApiBearerAuth('authkey')
  @ApiOkResponse({ type: LogoutResponseDto })
  async logout(@PresentedAuthkey() key: string | undefined): Promise<LogoutResponseDto> {
    await this.authkeys.revoke(key);
    return { revoked: true };
  }
}
