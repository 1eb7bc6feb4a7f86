import type { RemoteNode } from './node-forwarder';

/**
 * Which node owns what, as the node registry knows it. `null` means this node: the request is
 * served here (also for an id nobody owns, which the handler then refuses as usual).
 */
export abstract class OwningNodes {
  abstract ofVm(vmid: string): Promise<RemoteNode | null>;
  abstract byName(name: string): Promise<RemoteNode | null>;
}
