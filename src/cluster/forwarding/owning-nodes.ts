import type { RemoteNode } from './node-forwarder';

/**
 * Which node runs a VM, or holds an image's file: `null` means this node, where the request
 * is served (also for an id nobody owns, which the handler then refuses as usual).
 */
export abstract class OwningNodes {
  abstract ofVm(vmid: string): Promise<RemoteNode | null>;
  abstract ofImage(stid: string): Promise<RemoteNode | null>;
}
