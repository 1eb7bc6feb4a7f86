import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiProperty, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { ApiError } from '../common/errors/api-error';
import { VERSION } from '../common/version';
import { ApiErrors } from '../common/swagger/api-errors.decorator';
import { HypervisorHealthInfo, HypervisorService } from '../hypervisor/hypervisor.service';
import { Public } from '../identity/auth/authenticated.decorator';

export class HealthDto {
  @ApiProperty({ example: 'ok' })
  status: 'ok';

  @ApiProperty({ example: '0.1.0' })
  version: string;

  @ApiProperty({ description: 'Seconds since the server started', example: 42 })
  uptime: number;

  @ApiProperty({
    description: 'The hypervisor driver in use and what it offers on this host',
    example: { driver: 'sim', simulated: true, capabilities: { max_cpu_count: 2, max_memory_mb: 24000, vm_types: ['EFI', 'KBOOT'], screenshots: true, macos_guests: false, rosetta: false } },
  })
  hypervisor: HypervisorHealthInfo;
}

export class ReadyDto {
  @ApiProperty({ example: 'ready' })
  status: 'ready';
}

@ApiTags('health')
@Controller()
export class HealthController {
  constructor(
    private readonly dataSource: DataSource,
    private readonly hypervisor: HypervisorService,
  ) {}

  @ApiOperation({ summary: 'Liveness: the process answers.', description: 'No authkey needed.' })
  @Public()
  @Get('health')
  @ApiOkResponse({ type: HealthDto })
  health(): HealthDto {
    return { status: 'ok', version: VERSION, uptime: Math.round(process.uptime()), hypervisor: this.hypervisor.healthInfo() };
  }

  @ApiOperation({ summary: 'Readiness: the database answers a query.', description: 'No authkey needed.' })
  @Public()
  @Get('ready')
  @ApiOkResponse({ type: ReadyDto })
  @ApiErrors(['SERVICE_UNAVAILABLE'])
  async ready(): Promise<ReadyDto> {
    try {
      await this.dataSource.query('SELECT 1');
    } catch {
      throw new ApiError('SERVICE_UNAVAILABLE', 'The database does not answer');
    }
    return { status: 'ready' };
  }
}
