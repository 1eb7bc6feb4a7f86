import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiErrors } from '../../common/swagger/api-errors.decorator';

/** Metadata (OwningNodeRoute): whose node must serve the request. */
export const OWNING_NODE = 'velocity:owning-node';

export interface OwningNodeRoute {
  /** What the request is about: a VM (its node runs it) or an image (its node holds the file). */
  owner: 'vm' | 'image';
  /** The body or query field holding its id. */
  field: string;
  /**
   * When that node is offline: `refuse` (503 NODE_OFFLINE: what needs the node is not
   * guessed) or `answer-here` (a read whose database part stands alone: the VM's definition,
   * shown with `node_online: false`).
   */
  whenOffline: 'refuse' | 'answer-here';
}

/** The `node` field of the errors that name a node. */
export const NODE_FIELD = { type: 'string', example: 'mac-mini-02', description: 'The node of the cluster concerned' } as const;

/**
 * In a cluster, any node but the owner forwards the request there (ForwardingHook); on
 * a single host this changes nothing. Documents what a cluster adds to the answers (the node
 * offline, or not reachable).
 */
function onOwningNode(route: OwningNodeRoute) {
  return applyDecorators(
    SetMetadata(OWNING_NODE, route),
    ApiErrors([...(route.whenOffline === 'refuse' ? (['NODE_OFFLINE'] as const) : []), 'SERVICE_UNAVAILABLE', 'NODE_UNREACHABLE'], { 503: { node: NODE_FIELD }, 502: { node: NODE_FIELD } }),
  );
}

/** Runs the handler on the node that runs the VM `field` (vmid) names. */
export const OnVmNode = ({ field = 'vmid', whenOffline = 'refuse' }: Partial<Omit<OwningNodeRoute, 'owner'>> = {}) => onOwningNode({ owner: 'vm', field, whenOffline });

/** Runs the handler on the node that holds the file of the image `field` (stid) names; an image on shared storage, anywhere. */
export const OnImageNode = ({ field = 'stid' }: Partial<Pick<OwningNodeRoute, 'field'>> = {}) => onOwningNode({ owner: 'image', field, whenOffline: 'refuse' });
