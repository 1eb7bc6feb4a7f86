import { ApiProperty } from '@nestjs/swagger';
import { TextField, UuidField } from '../../common/validation/fields';
import { NicEntity } from '../entities/nic.entity';
import { NullableStringProperty } from '../../common/swagger/nullable-property';

const NICID_EXAMPLE = '9b2d7f3e-1c4a-4e8b-a6d5-0f1e2d3c4b5a';

export class CreateNicDto {
  @UuidField({ description: 'Owning group (GID)', example: '5a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d' })
  group: string;

  @TextField({ description: 'What the socket connects to', example: 'socket_vmnet on en0', minLength: 0, maxLength: 200, optional: true })
  description = '';
}

export class NicIdDto {
  @UuidField({ description: 'NIC id (NICID)', example: NICID_EXAMPLE })
  nicid: string;
}

export class NicDto {
  @ApiProperty({ format: 'uuid', example: NICID_EXAMPLE }) nicid: string;
  @ApiProperty({ enum: ['NAT', 'BRIDGE', 'FILEHANDLE'], example: 'NAT' }) type: string;
  @ApiProperty({ example: 'NAT (built in)' }) description: string;
  @NullableStringProperty({ description: 'BRIDGE: the host interface' }) host_interface: string | null;
  @NullableStringProperty({ description: 'FILEHANDLE: the datagram socket path a host-side program binds; the VM sends to it' })
  socket: string | null;
  @NullableStringProperty({ format: 'uuid', description: 'FILEHANDLE: owning group' }) gid: string | null;
  @ApiProperty({ description: 'False for a host interface the driver no longer reports', example: true }) available: boolean;
}

export class NicListDto {
  @ApiProperty({ type: [NicDto] }) nics: NicDto[];
}

export function mapNic(nic: NicEntity, socketPath: string | null): NicDto {
  return {
    nicid: nic.nicid,
    type: nic.type,
    description: nic.description,
    host_interface: nic.hostInterface,
    socket: nic.type === 'FILEHANDLE' ? socketPath : null,
    gid: nic.gid,
    available: nic.available,
  };
}
