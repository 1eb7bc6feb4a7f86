import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiProperty, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { ApiError } from '../common/errors/api-error';
import { VERSION } from '../common/version';
import { ApiErrors } from '../common/swagger/api-errors.decorator';
import type { Accelerator, DriverName, VmType } from '../hypervisor/hypervisor-driver';
import { HypervisorHealthInfo, HypervisorService } from '../hypervisor/hypervisor.service';
import { Public } from '../identity/auth/authenticated.decorator';

export class HealthCapabilitiesDto {
  @ApiProperty({ type: 'integer', example: 2 }) max_cpu_count: number;
  @ApiProperty({ type: 'integer', example: 24000 }) max_memory_mb: number;
  @ApiProperty({ enum: ['EFI', 'KBOOT', 'MAC'], isArray: true, example: ['EFI', 'KBOOT'] }) vm_types: VmType[];
  @ApiProperty({ description: 'GET /v/screenshot works', example: true }) screenshots: boolean;
  @ApiProperty({ example: false }) macos_guests: boolean;
  @ApiProperty({ example: false }) rosetta: boolean;
}

export class HealthHypervisorDto {
  @ApiProperty({ enum: ['vz', 'qemu', 'sim'], example: 'sim' }) driver: DriverName;
  @ApiProperty({ description: 'True for the sim driver: nothing really runs', example: true }) simulated: boolean;
  @ApiProperty({ enum: ['kvm', 'tcg'], required: false, description: 'qemu only: KVM, or TCG (software emulation, much slower)', example: 'kvm' })
  accelerator?: Accelerator;
  @ApiProperty({ type: HealthCapabilitiesDto }) capabilities: HealthCapabilitiesDto;
}

export class HealthDto {
  @ApiProperty({ example: 'ok' })
  status: 'ok';

  @ApiProperty({ example: '0.1.0' })
  version: string;

  @ApiProperty({ type: 'integer', description: 'Seconds since the server started', example: 42 })
  uptime: number;

  @ApiProperty({ type: HealthHypervisorDto, description: 'The hypervisor driver in use and what it offers on this host' })
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
