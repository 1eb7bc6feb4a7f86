import { Injectable } from '@nestjs/common';

export type ResourceKind = 'storage' | 'nic';

/** Answers which VM uses a resource (null when none); registered by the VMs module. */
export type ResourceUsageLookup = (kind: ResourceKind, id: string) => Promise<string | null>;

/**
 * Lets the resources module refuse to delete what a VM still uses, without depending on
 * the VMs module.
 */
@Injectable()
export class ResourceUsage {
  private lookups: ResourceUsageLookup[] = [];

  register(lookup: ResourceUsageLookup): void {
    this.lookups.push(lookup);
  }

  async usedBy(kind: ResourceKind, id: string): Promise<string | null> {
    for (const lookup of this.lookups) {
      const vmid = await lookup(kind, id);
      if (vmid) return vmid;
    }
    return null;
  }
}
