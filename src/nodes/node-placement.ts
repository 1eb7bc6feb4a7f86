import { ApiError } from '../common/errors/api-error';
import type { HostCapabilities } from '../hypervisor/hypervisor-driver';

/** A node as placement weighs it. */
export interface PlacementCandidate {
  name: string;
  online: boolean;
  capabilities: HostCapabilities;
  free: { cpus: number; memoryMb: number };
}

/** What a VM asks of the node it runs on, known before its images are looked up. */
export interface PlacementDemand {
  /** The node given by the caller, if any. */
  node?: string;
  /** Throws the API error that says why the VM cannot run with these capabilities (checkAgainstHost). */
  fits: (capabilities: HostCapabilities) => void;
}

/** A node that could run the VM as far as its host goes, or the reason it cannot. */
export interface AssessedNode {
  node: PlacementCandidate;
  refusal?: unknown;
}

/** Each image the VM attaches and the node it lives on. */
export type ImageLocations = Array<{ stid: string; node: string }>;

/**
 * Placement, first half: the nodes that could run the VM, best first, judged before its
 * images are looked up (so a definition no host takes is refused first, as on one host).
 * A node given must exist (404 NODE_NOT_FOUND), be online (503 NODE_OFFLINE) and take the
 * definition. Otherwise the online nodes, by most free memory (then CPUs, then name); free
 * is capacity minus what the VMs placed there are given, and may go below zero (overcommit
 * is the operator's call, as on Proxmox): a full cluster still places VMs, on its least
 * loaded node. When no node takes the definition, the best one's reason is the answer.
 */
export function assessNodes(nodes: PlacementCandidate[], demand: PlacementDemand): AssessedNode[] {
  if (demand.node !== undefined) {
    const node = nodes.find((n) => n.name === demand.node);
    if (!node) throw new ApiError('NODE_NOT_FOUND', `There is no node named ${demand.node}`, { node: demand.node });
    if (!node.online) throw offline(node.name);
    demand.fits(node.capabilities);
    return [{ node }];
  }
  const assessed = nodes
    .filter((n) => n.online)
    .sort((a, b) => b.free.memoryMb - a.free.memoryMb || b.free.cpus - a.free.cpus || a.name.localeCompare(b.name))
    .map((node) => {
      try {
        demand.fits(node.capabilities);
        return { node };
      } catch (refusal) {
        return { node, refusal };
      }
    });
  if (assessed.length > 0 && assessed.every((a) => a.refusal !== undefined)) throw assessed[0].refusal;
  return assessed;
}

/**
 * Placement, second half: of the assessed nodes, the best that holds every image the VM
 * attaches. Images do not travel between nodes: a VM attaches images of its own node only
 * (409 STORAGE_NOT_ON_NODE), and a VM whose images live on an offline node waits for it (409
 * NODE_OFFLINE).
 */
export function pickNode(assessed: AssessedNode[], images: ImageLocations, requested?: string): PlacementCandidate {
  const holders = [...new Set(images.map((i) => i.node))];
  if (holders.length > 1) {
    const image = images.find((i) => i.node === holders[1])!;
    throw storageElsewhere(image, `The VM's images live on several nodes (${holders.join(', ')}); a VM attaches images of its own node only`);
  }
  const candidates = holders.length === 0 ? assessed : assessed.filter((a) => a.node.name === holders[0]);
  if (candidates.length === 0) {
    if (requested !== undefined) throw storageElsewhere(images[0], `Storage ${images[0].stid} lives on node ${holders[0]}, not on ${requested}; a VM attaches images of its own node only`);
    throw offline(holders[0] ?? 'of this cluster');
  }
  const chosen = candidates.find((c) => c.refusal === undefined);
  if (!chosen) throw candidates[0].refusal;
  return chosen.node;
}

function offline(node: string): ApiError {
  return new ApiError('NODE_OFFLINE', `Node ${node} is offline (no recent heartbeat)`, { node });
}

function storageElsewhere(image: { stid: string; node: string }, message: string): ApiError {
  return new ApiError('STORAGE_NOT_ON_NODE', message, { stid: image.stid, node: image.node });
}
