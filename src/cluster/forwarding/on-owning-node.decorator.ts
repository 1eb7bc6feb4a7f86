import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiErrors } from '../../common/swagger/api-errors.decorator';

/** Metadata (OwningNodeRoute): which request field names the VM whose node must serve the request. */
export const OWNING_NODE = 'velocity:owning-node';

export interface OwningNodeRoute {
  /** The body or query field holding the vmid. */
  field: string;
  /**
   * When the VM's node is offline: `refuse` (503 NODE_OFFLINE: what needs the hypervisor is
   * not guessed) or `answer-here` (a read whose database part stands alone: the VM's
   * definition, shown with `node_online: false`).
   */
  whenOffline: 'refuse' | 'answer-here';
}

/** The `node` field of the errors that name a node. */
export const NODE_FIELD = { type: 'string', example: 'mac-mini-02', description: 'The node of the cluster concerned' } as const;

/**
 * Runs the handler on the node that owns the VM `field` names: in a cluster, any other node
 * forwards the request there (OwningNodeInterceptor); on a single host it changes nothing.
 * Documents what a cluster adds to the answers (the node offline, or not reachable).
 */
export const OnVmNode = ({ field = 'vmid', whenOffline = 'refuse' }: Partial<OwningNodeRoute> = {}) =>
  applyDecorators(
    SetMetadata(OWNING_NODE, { field, whenOffline } satisfies OwningNodeRoute),
    ApiErrors([...(whenOffline === 'refuse' ? (['NODE_OFFLINE'] as const) : []), 'SERVICE_UNAVAILABLE', 'NODE_UNREACHABLE'], { 503: { node: NODE_FIELD }, 502: { node: NODE_FIELD } }),
  );
