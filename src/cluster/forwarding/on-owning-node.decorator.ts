import { SetMetadata } from '@nestjs/common';

export const OWNING_NODE = 'velocity:owning-node';

/**
 * Where a handler's work must run in a cluster: on the node that owns the VM the request's
 * `field` names (`vm`), or on the node the `field` of a creation names (`node`). On any other
 * node the request is forwarded there (see OwningNodeInterceptor); on a single host this
 * marks nothing.
 */
export interface OwningNodeTarget {
  kind: 'vm' | 'node';
  field: string;
}

/** Runs the handler on the node that owns the VM `field` (body or query) names. */
export const OnVmNode = (field = 'vmid') => SetMetadata(OWNING_NODE, { kind: 'vm', field } satisfies OwningNodeTarget);

/** Runs the handler on the node `field` names (a creation that says where it goes). */
export const OnNamedNode = (field = 'node') => SetMetadata(OWNING_NODE, { kind: 'node', field } satisfies OwningNodeTarget);
