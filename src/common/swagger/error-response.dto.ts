import { ApiProperty } from '@nestjs/swagger';
import { ERROR_CODES } from '../errors/error-codes';

export class ErrorResponseDto {
  @ApiProperty({
    description: 'Stable error identifier',
    enum: Object.keys(ERROR_CODES),
    example: 'VALIDATION_FAILED',
  })
  code: string;

  @ApiProperty({ description: 'Human-readable explanation', example: 'Invalid request: username: must be a string' })
  message: string;
}
