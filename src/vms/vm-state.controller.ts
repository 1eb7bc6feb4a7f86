import { NODE_FIELD, OnVmNode } from '../cluster/forwarding/on-owning-node.decorator';
import { Body, Controller, Get, Post, Query, Res } from '@nestjs/common';
import { ApiOkResponse, ApiResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { RequireCatalogPermission } from '../catalogs/permissions/require-catalog-permission.decorator';
import { ApiErrors } from '../common/swagger/api-errors.decorator';
import { VM_STATES } from '../hypervisor/hypervisor-driver';
import { RequestStateDto, VmIdDto, VmStateDto } from './dto/vm.dto';
import { REQUESTABLE_STATES } from './vm-state-plan';
import { VmStateService } from './vm-state.service';
import { VM_BY_VMID } from './vm-references';

@ApiTags('virtual machines')
@Controller('v/state')
export class VmStateController {
  constructor(
    private readonly states: VmStateService,
  ) {}

  @ApiOperation({ summary: 'The VM\'s current state (`view`).' })
  @Get()
  @OnVmNode()
  @RequireCatalogPermission('view', { reference: VM_BY_VMID })
  @ApiOkResponse({ type: VmStateDto })
  async getVmState(@Query() query: VmIdDto): Promise<VmStateDto> {
    return { vmid: query.vmid, state: await this.states.stateOf(query.vmid) };
  }

  @ApiOperation({ summary: 'Request RUNNING, PAUSED or STOPPED (`state`).', description: 'Answers once the transition is done; a graceful stop the guest has not finished within VELOCITY_STOP_TIMEOUT answers STOPPING.' })
  @Post()
  @OnVmNode()
  @RequireCatalogPermission('state', { reference: VM_BY_VMID })
  @ApiOkResponse({ type: VmStateDto, description: 'State changed' })
  @ApiResponse({ status: 208, type: VmStateDto, description: 'Already reported: the VM already is in the requested state' })
  @ApiErrors(['STATE_CHANGE_NOT_ALLOWED', 'HYPERVISOR_FAILURE', 'UNSUPPORTED_ON_HOST', 'INVALID_VM_CONFIG', 'VM_ON_OTHER_NODE'], {
    403: {
      vmid: { type: 'string', example: '1e7d2c9a-5b3f-4a8e-9c6d-2f1a0b9e8d7c' },
      req_state: { type: 'string', example: 'PAUSED', enum: REQUESTABLE_STATES },
      cur_state: { type: 'string', example: 'STOPPED', enum: VM_STATES },
    },
    409: { vmid: { type: 'string', example: '1e7d2c9a-5b3f-4a8e-9c6d-2f1a0b9e8d7c' }, node: NODE_FIELD },
    500: { vmid: { type: 'string', example: '1e7d2c9a-5b3f-4a8e-9c6d-2f1a0b9e8d7c' }, state: { type: 'string', example: 'STOPPED', enum: VM_STATES } },
  })
  async requestVmState(@Body() body: RequestStateDto, @Res({ passthrough: true }) reply: FastifyReply): Promise<VmStateDto> {
    const result = await this.states.request(body.vmid, body.state, body.force);
    void reply.status(result.status);
    return { vmid: body.vmid, state: result.state };
  }
}
