import { ApiProperty } from '@nestjs/swagger';
import { NameField, UuidArrayField, UuidField } from '../../common/validation/fields';
import { GroupEntity, SPECIAL_GROUPS } from '../entities/group.entity';
import { NullableStringProperty } from '../../common/swagger/nullable-property';

export class CreateGroupDto {
  @NameField({ description: 'Unique group name', example: 'developers' })
  groupname: string;
}

export class GroupIdDto {
  @UuidField({ description: 'Group id', example: '5a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d' })
  gid: string;
}

export class MembershipDto {
  @UuidField({ description: 'User id', example: '0b6f4c9e-3a52-4a8e-9d1e-6f3b2a1c0d9e' })
  uid: string;

  @UuidArrayField({ description: 'Group ids', example: ['5a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d'] })
  groups: string[];
}

export class GroupDto {
  @ApiProperty({ format: 'uuid', example: '5a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d' })
  gid: string;

  @ApiProperty({ example: 'developers' })
  groupname: string;

  @NullableStringProperty({ enum: SPECIAL_GROUPS, description: 'Set for the four special groups' })
  special: string | null;

  @ApiProperty({ description: 'True for a user\'s personal group', example: false })
  personal: boolean;
}

export class GroupListDto {
  @ApiProperty({ type: [GroupDto] })
  groups: GroupDto[];
}

export class MembershipResultDto {
  @ApiProperty({ format: 'uuid', example: '0b6f4c9e-3a52-4a8e-9d1e-6f3b2a1c0d9e' })
  uid: string;

  @ApiProperty({ type: [GroupDto], description: 'The user\'s groups after the change' })
  groups: GroupDto[];
}

export class DeletedGroupDto {
  @ApiProperty({ format: 'uuid', example: '5a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d' })
  gid: string;
}

export function mapGroup(group: GroupEntity): GroupDto {
  return { gid: group.gid, groupname: group.groupname, special: group.special, personal: group.personalUid !== null };
}
