import { ApiProperty } from '@nestjs/swagger';
import { NameField, TextField, UuidArrayField, UuidField } from '../../common/validation/fields';
import { GroupEntity } from '../entities/group.entity';
import { UserEntity } from '../entities/user.entity';
import { GroupDto, mapGroup } from './group.dto';

export class CreateUserDto {
  @NameField({ description: 'Unique username; also the name of the user\'s personal group', example: 'alice' })
  username: string;

  @TextField({ description: 'Password (8 to 1024 characters)', example: 'a long passphrase', minLength: 8, maxLength: 1024 })
  password: string;

  @UuidArrayField({ description: 'Groups to add the user to, besides the personal group', example: [] , optional: true })
  groups: string[] = [];
}

export class UserIdDto {
  @UuidField({ description: 'User id', example: '0b6f4c9e-3a52-4a8e-9d1e-6f3b2a1c0d9e' })
  uid: string;
}

export class UserDto {
  @ApiProperty({ format: 'uuid', example: '0b6f4c9e-3a52-4a8e-9d1e-6f3b2a1c0d9e' })
  uid: string;

  @ApiProperty({ example: 'alice' })
  username: string;

  @ApiProperty({ type: [GroupDto], description: 'The groups the user is a member of' })
  groups: GroupDto[];
}

export class DeletedUserDto {
  @ApiProperty({ format: 'uuid', example: '0b6f4c9e-3a52-4a8e-9d1e-6f3b2a1c0d9e' })
  uid: string;
}

export class UserListDto {
  @ApiProperty({ type: [UserDto] })
  users: UserDto[];
}

export function mapUser(user: UserEntity): UserDto {
  return { uid: user.uid, username: user.username, groups: sortGroups(user.groups).map(mapGroup) };
}

function sortGroups(groups: GroupEntity[]): GroupEntity[] {
  return [...groups].sort((a, b) => a.groupname.localeCompare(b.groupname));
}
