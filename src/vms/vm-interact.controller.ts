import { Body, Controller, Get, HttpCode, Post, Query, Res } from '@nestjs/common';
import { ApiOkResponse, ApiProduces, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { RequireCatalogPermission } from '../catalogs/permissions/require-catalog-permission.decorator';
import { ApiError } from '../common/errors/api-error';
import { ApiErrors } from '../common/swagger/api-errors.decorator';
import { HypervisorError } from '../hypervisor/hypervisor.errors';
import { HypervisorService } from '../hypervisor/hypervisor.service';
import { ConsoleInputDto, ConsoleOutputDto, ConsoleQueryDto, ScreenshotQueryDto, VmIdDto } from './dto/vm.dto';
import { VmConsoleService } from './vm-console.service';
import { VmFiles } from './vm-files';
import { VM_BY_VMID } from './vm-references';
import { VmsService } from './vms.service';

/** The serial console and the display (`interact`). The live console is a WebSocket: see VmConsoleGateway. */
@ApiTags('virtual machines')
@Controller('v')
export class VmInteractController {
  constructor(
    private readonly console: VmConsoleService,
    private readonly vms: VmsService,
    private readonly hypervisor: HypervisorService,
    private readonly files: VmFiles,
  ) {}

  @ApiOperation({ summary: 'Recent serial console output (`interact`).', description: 'Live, two-way: WebSocket `/v/console/stream?vmid=…`.' })
  @Get('console')
  @RequireCatalogPermission('interact', { reference: VM_BY_VMID })
  @ApiOkResponse({ type: ConsoleOutputDto })
  async getConsoleOutput(@Query() query: ConsoleQueryDto): Promise<ConsoleOutputDto> {
    const { output, size } = await this.console.tail(query.vmid, query.bytes);
    return { vmid: query.vmid, output: output.toString('utf8'), size };
  }

  @ApiOperation({ summary: 'Type text on the serial console (`interact`).' })
  @Post('console')
  @HttpCode(200)
  @RequireCatalogPermission('interact', { reference: VM_BY_VMID })
  @ApiOkResponse({ type: VmIdDto })
  @ApiErrors(['VM_NOT_RUNNING'])
  async sendConsoleInput(@Body() body: ConsoleInputDto): Promise<VmIdDto> {
    await this.console.write(body.vmid, Buffer.from(body.input, 'utf8'));
    return { vmid: body.vmid };
  }

  @ApiOperation({ summary: 'A PNG of one display of a running VM, where the driver can capture frames (`interact`).' })
  @Get('screenshot')
  @RequireCatalogPermission('interact', { reference: VM_BY_VMID })
  @ApiProduces('image/png')
  @ApiOkResponse({ description: 'The frame as PNG', content: { 'image/png': { schema: { type: 'string', format: 'binary' } } } })
  @ApiErrors(['VM_NOT_RUNNING', 'UNSUPPORTED_ON_HOST'])
  async getScreenshot(@Query() query: ScreenshotQueryDto, @Res({ passthrough: true }) reply: FastifyReply): Promise<Buffer> {
    const { vm } = await this.vms.get(query.vmid);
    if (!this.hypervisor.capabilities.screenshots) {
      throw new ApiError('UNSUPPORTED_ON_HOST', `The ${this.hypervisor.driverName} driver cannot capture display frames on this host`);
    }
    if (query.display >= vm.displays.length) {
      throw new ApiError('VALIDATION_FAILED', `Invalid request: display: the VM has ${vm.displays.length} display(s)`);
    }
    const state = this.hypervisor.state(vm.vmid);
    if (state !== 'RUNNING' && state !== 'PAUSED') throw new ApiError('VM_NOT_RUNNING', `The VM is ${state}; only a running VM has a frame to capture`);
    const path = join(this.files.directory(vm.vmid), `.screenshot-${randomBytes(6).toString('hex')}.png`);
    try {
      await this.hypervisor.captureDisplay(vm.vmid, query.display, path);
      void reply.type('image/png');
      return await readFile(path);
    } catch (error) {
      if (error instanceof HypervisorError && error.code === 'UNSUPPORTED') throw new ApiError('UNSUPPORTED_ON_HOST', error.message);
      throw error;
    } finally {
      await rm(path, { force: true });
    }
  }
}
