import { Body, Controller, Get, HttpCode, Post, Query, Res } from '@nestjs/common';
import { ApiOkResponse, ApiProduces, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { RequireCatalogPermission } from '../catalogs/permissions/require-catalog-permission.decorator';
import { ApiErrors } from '../common/swagger/api-errors.decorator';
import { ConsoleInputDto, ConsoleOutputDto, ConsoleQueryDto, ScreenshotQueryDto, VmIdDto } from './dto/vm.dto';
import { VmConsoleService } from './vm-console.service';
import { VmDisplayService } from './vm-display.service';
import { VM_BY_VMID } from './vm-references';

/** The serial console and the display (`interact`). The live console is a WebSocket: see VmConsoleGateway. */
@ApiTags('virtual machines')
@Controller('v')
export class VmInteractController {
  constructor(
    private readonly console: VmConsoleService,
    private readonly display: VmDisplayService,
  ) {}

  @ApiOperation({
    summary: 'Recent serial console output (`interact`).',
    description:
      'Live, two-way: WebSocket `/v/console/stream?vmid=…` (authkey as Bearer header or `authkey` query parameter). ' +
      'An open socket is closed with 4401 when its authkey is revoked, renewed or expires or its user is deleted, and with 4403 ' +
      'when the caller loses `interact` (share, membership, catalog) or the VM is deleted; the close reason is the error code.',
  })
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
    const png = await this.display.screenshot(query.vmid, query.display);
    void reply.type('image/png');
    return png;
  }
}
