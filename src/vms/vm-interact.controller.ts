import { OnVmNode } from '../cluster/forwarding/on-owning-node.decorator';
import { Body, Controller, Get, HttpCode, Post, Query, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { RequireCatalogPermission } from '../catalogs/permissions/require-catalog-permission.decorator';
import { ApiError } from '../common/errors/api-error';
import { ApiErrors } from '../common/swagger/api-errors.decorator';
import { ConsoleInputDto, ConsoleOutputDto, ConsoleQueryDto, ScreenshotQueryDto, VmIdDto } from './dto/vm.dto';
import { VmConsoleService } from './vm-console.service';
import { VmDisplayService } from './vm-display.service';
import { VM_BY_VMID } from './vm-references';

/**
 * The serial console and the display (`interact`). The live console and the remote screen are
 * WebSockets, served by VmConsoleGateway and VmRemoteScreenGateway.
 */
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
  @OnVmNode()
  @RequireCatalogPermission('interact', { reference: VM_BY_VMID })
  @ApiOkResponse({ type: ConsoleOutputDto })
  async getConsoleOutput(@Query() query: ConsoleQueryDto): Promise<ConsoleOutputDto> {
    const { output, size } = await this.console.tail(query.vmid, query.bytes);
    return { vmid: query.vmid, output: output.toString('utf8'), size };
  }

  @ApiOperation({ summary: 'Type text on the serial console (`interact`).' })
  @Post('console')
  @OnVmNode()
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
  @OnVmNode()
  @RequireCatalogPermission('interact', { reference: VM_BY_VMID })
  @ApiProduces('image/png')
  @ApiOkResponse({ description: 'The frame as PNG', content: { 'image/png': { schema: { type: 'string', format: 'binary' } } } })
  @ApiErrors(['VM_NOT_RUNNING', 'UNSUPPORTED_ON_HOST'])
  async getScreenshot(@Query() query: ScreenshotQueryDto, @Res({ passthrough: true }) reply: FastifyReply): Promise<Buffer> {
    const png = await this.display.screenshot(query.vmid, query.display);
    void reply.type('image/png');
    return png;
  }

  @ApiOperation({
    summary: 'The remote screen: a WebSocket carrying RFB (VNC) of the VM\'s first display (`interact`).',
    description:
      'A WebSocket upgrade, not a plain GET (Swagger UI cannot open it; see the README for websocat and noVNC). ' +
      'The authkey goes in the `Authorization: Bearer` header or, from a browser, the `authkey` query parameter; the ' +
      'subprotocol `binary` is accepted when offered. After the 101 the socket carries the RFB protocol (RFC 6143) byte for byte, ' +
      'from the server\'s `RFB 003.008` on, so noVNC and other WebSocket VNC clients connect directly: with the qemu driver, ' +
      'QEMU\'s own VNC server (one connection per viewer, several at once); with the sim driver, the simulated frames (security ' +
      'type None, Raw encoding); the vz driver has none (422). A refused upgrade gets the usual error status and `{code, message}` ' +
      'before any RFB byte: no or a bad authkey, no `interact`, a VM not running (409). The socket closes when the VM stops, ' +
      'with 4401 when its authkey is revoked, renewed or expires, and with 4403 when the caller loses `interact` or the VM is deleted. ' +
      'A GET without the upgrade is answered 426.',
  })
  @Get('rfb')
  @RequireCatalogPermission('interact', { reference: VM_BY_VMID })
  @ApiResponse({ status: 101, description: 'Switching Protocols: the socket now carries RFB (binary messages both ways)' })
  @ApiErrors(['VM_NOT_RUNNING', 'UNSUPPORTED_ON_HOST', 'UPGRADE_REQUIRED'])
  openRemoteScreen(@Query() query: VmIdDto): never {
    throw new ApiError('UPGRADE_REQUIRED', `GET /v/rfb?vmid=${query.vmid} is a WebSocket: send it as a WebSocket upgrade`);
  }
}
