import { ApiError } from '../common/errors/api-error';
import type { HostCapabilities } from '../hypervisor/hypervisor-driver';

/** A node as placement weighs it. */
export interface PlacementCandidate {
  name: string;
  online: boolean;
  capabilities: HostCapabilities;
  free: { cpus: number; memoryMb: number };
}

/** Where a VM is to run: the node asked for, if any, and the nodes holding its storage images. */
export interface PlacementRequest {
  node?: string;
  /** Each attached image's id and node. */
  storage: Array<{ stid: string; node: string }>;
  /** Throws the API error that says why the VM cannot run with these capabilities (checkAgainstHost). */
  fits: (capabilities: HostCapabilities) => void;
}

/**
 * Picks the node a VM runs on. A node given must exist (404 NODE_NOT_FOUND), be online (409
 * NODE_OFFLINE), hold every image the VM attaches (409 STORAGE_NOT_ON_NODE: images do not
 * travel between nodes) and take the definition. Without one, the candidates are the online
 * nodes holding the images; the one with the most free memory (then CPUs, then by name)
 * that takes the definition wins. Free is capacity minus what the VMs placed there are
 * given; it may go below zero (overcommit is the operator's call, as on Proxmox), so a full
 * cluster still places VMs, on its least loaded node.
 */
export function chooseNode(nodes: PlacementCandidate[], request: PlacementRequest): PlacementCandidate {
  if (request.node !== undefined) {
    const node = nodes.find((n) => n.name === request.node);
    if (!node) throw new ApiError('NODE_NOT_FOUND', `There is no node named ${request.node}`, { node: request.node });
    if (!node.online) throw new ApiError('NODE_OFFLINE', `Node ${node.name} is offline (no recent heartbeat)`, { node: node.name });
    const elsewhere = request.storage.find((s) => s.node !== node.name);
    if (elsewhere) throw storageElsewhere(elsewhere, node.name);
    request.fits(node.capabilities);
    return node;
  }
  const holders = [...new Set(request.storage.map((s) => s.node))];
  if (holders.length > 1) {
    const [first, second] = holders.map((holder) => request.storage.find((s) => s.node === holder)!);
    throw storageElsewhere(second, first.node, `the VM's images live on several nodes (${holders.join(', ')}); a VM attaches images of its own node only`);
  }
  const candidates = nodes
    .filter((n) => n.online && (holders.length === 0 || n.name === holders[0]))
    .sort((a, b) => b.free.memoryMb - a.free.memoryMb || b.free.cpus - a.free.cpus || a.name.localeCompare(b.name));
  if (candidates.length === 0) {
    throw new ApiError('NODE_OFFLINE', `The VM's images live on node ${holders[0]}, which is offline (no recent heartbeat)`, { node: holders[0] });
  }
  let refusal: unknown;
  for (const node of candidates) {
    try {
      request.fits(node.capabilities);
      return node;
    } catch (error) {
      refusal ??= error;
    }
  }
  // No node takes it: the reason the best candidate gave.
  throw refusal;
}

function storageElsewhere(image: { stid: string; node: string }, target: string, why?: string): ApiError {
  return new ApiError('STORAGE_NOT_ON_NODE', why ?? `Storage ${image.stid} lives on node ${image.node}, not on ${target}; a VM attaches images of its own node only`, {
    stid: image.stid,
    node: image.node,
  });
}
