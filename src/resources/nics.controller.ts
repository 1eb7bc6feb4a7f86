import { Body, Controller, Delete, Get, Put } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/swagger/api-errors.decorator';
import { Authenticated, CurrentUser } from '../identity/auth/authenticated.decorator';
import { AuthenticatedUser } from '../identity/auth/authenticated-user';
import { CreateNicDto, DeletedNicDto, mapNic, NicDto, NicIdDto, NicListDto } from './dto/nic.dto';
import { NicsService } from './nics.service';

@ApiTags('resources')
@Controller('r/nic')
export class NicsController {
  constructor(private readonly nics: NicsService) {}

  @ApiOperation({ summary: 'The NICs the caller may attach: NAT, the host\'s bridgeable interfaces, their groups\' FILEHANDLE NICs.' })
  @Get('list')
  @Authenticated()
  @ApiOkResponse({ type: NicListDto })
  async listNics(@CurrentUser() caller: AuthenticatedUser): Promise<NicListDto> {
    return { nics: (await this.nics.list(caller)).map((n) => mapNic(n, this.nics.socketPathOf(n.nicid))) };
  }

  @ApiOperation({ summary: 'Create a FILEHANDLE NIC for a group: a datagram socket path under the data directory.' })
  @Put()
  @Authenticated()
  @ApiOkResponse({ type: NicDto })
  @ApiErrors(['VALIDATION_FAILED', 'GROUP_NOT_FOUND'])
  async createNic(@CurrentUser() caller: AuthenticatedUser, @Body() body: CreateNicDto): Promise<NicDto> {
    const nic = await this.nics.createFileHandle(caller, body.group, body.description);
    return mapNic(nic, this.nics.socketPathOf(nic.nicid));
  }

  @ApiOperation({ summary: 'Delete a FILEHANDLE NIC; 409 while a VM uses it or for the built-in NICs.' })
  @Delete()
  @Authenticated()
  @ApiOkResponse({ type: DeletedNicDto })
  @ApiErrors(['VALIDATION_FAILED', 'NIC_NOT_FOUND', 'NIC_IN_USE', 'NIC_NOT_REMOVABLE'])
  async deleteNic(@CurrentUser() caller: AuthenticatedUser, @Body() body: NicIdDto): Promise<DeletedNicDto> {
    await this.nics.delete(caller, body.nicid);
    return { nicid: body.nicid };
  }
}
