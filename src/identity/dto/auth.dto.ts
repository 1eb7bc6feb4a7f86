import { ApiProperty } from '@nestjs/swagger';
import { TextField } from '../../common/validation/fields';

export class LoginDto {
  @TextField({ description: 'Username', example: 'root', minLength: 1, maxLength: 64 })
  username: string;

  @TextField({ description: 'Password', example: 'correct horse battery staple', minLength: 1, maxLength: 1024 })
  password: string;
}

export class AuthkeyDto {
  @ApiProperty({ description: 'Send as `Authorization: Bearer <authkey>` or as the `authkey` field', example: 'qT3v9xJ0mXk2cN4f3q0bS8yZ1uW5eR7tY9iO1pA3sD4' })
  authkey: string;

  @ApiProperty({ description: 'Expiry as Unix time in seconds', example: 1767225600 })
  expires: number;
}

export class LogoutResponseDto {
  @ApiProperty({ description: 'Always true: the key no longer works, whether or not it existed', example: true })
  revoked: boolean;
}
