import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Authenticated } from '../identity/auth/authenticated.decorator';
import { mapNode, NodeListDto } from './dto/node.dto';
import { NodesService } from './nodes.service';

@ApiTags('nodes')
@Controller('nodes')
export class NodesController {
  constructor(private readonly nodes: NodesService) {}

  // Any caller, API tokens included: choosing `node` when creating a VM needs the list, and it
  // holds no secret (no credentials, no host interface names), like Orchard's worker list.
  @ApiOperation({
    summary: 'The servers of the cluster (any authenticated caller).',
    description:
      'Each node with its driver, capabilities, capacity (total, used by the VMs placed there, free) and liveness. ' +
      'On SQLite there is one node: this server. VMs are placed on the online node with the most free memory unless `node` is given.',
  })
  @Get()
  @Authenticated({ apiTokens: 'scoped' })
  @ApiOkResponse({ type: NodeListDto })
  async listNodes(): Promise<NodeListDto> {
    return { nodes: (await this.nodes.list()).map(mapNode) };
  }
}
