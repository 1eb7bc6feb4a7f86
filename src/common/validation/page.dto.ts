import { ApiProperty } from '@nestjs/swagger';
import { IntegerQueryField } from './fields';

/** Offset pagination for list endpoints. */
export class PageQueryDto {
  @IntegerQueryField({ description: 'Page size (1 to 1000)', example: 100, min: 1, max: 1000, optional: true })
  limit: number = 100;

  @IntegerQueryField({ description: 'How many items to skip', example: 0, min: 0, max: 1_000_000_000, optional: true })
  offset: number = 0;
}

export class PageInfoDto {
  @ApiProperty({ description: 'Number of items across all pages', example: 1 })
  total: number;

  @ApiProperty({ example: 100 })
  limit: number;

  @ApiProperty({ example: 0 })
  offset: number;
}
