import { Injectable } from '@nestjs/common';

/** Work another module must do before a catalog's rows go (stopping and removing its VMs). */
export type CatalogDeletionHook = (cid: string) => Promise<void>;

/**
 * Lets modules that keep things inside catalogs clean up when one is deleted, without the
 * catalogs module depending on them.
 */
@Injectable()
export class CatalogDeletionHooks {
  private readonly hooks: CatalogDeletionHook[] = [];

  register(hook: CatalogDeletionHook): void {
    this.hooks.push(hook);
  }

  async run(cid: string): Promise<void> {
    for (const hook of this.hooks) await hook(cid);
  }
}
