import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, Matches } from 'class-validator';
import { UuidField } from '../../../common/validation/fields';

/** An event id as it travels in `Last-Event-ID` and `last_event_id`: a whole number. */
export const EVENT_ID_PATTERN = /^\d{1,16}$/;

export class VmEventsQueryDto {
  @UuidField({ description: 'Only events of VMs in this catalog (needs `view` on it)', optional: true })
  cid?: string;

  @UuidField({ description: 'Only events of this VM (needs `view` on its catalog)', optional: true })
  vmid?: string;

  @ApiPropertyOptional({
    type: String,
    pattern: EVENT_ID_PATTERN.source,
    description: 'Resume after this event id, for clients that cannot set the `Last-Event-ID` header (the header wins when both are given)',
    example: '1764662275000042',
  })
  @IsOptional()
  @Matches(EVENT_ID_PATTERN, { message: 'last_event_id must be an event id (a whole number)' })
  last_event_id?: string;
}
