import { Injectable } from '@nestjs/common';
import { CatalogsService } from '../catalogs/catalogs.service';
import { ApiError } from '../common/errors/api-error';
import { StorageService } from '../resources/storage.service';
import { VmsRepository } from '../vms/vms.repository';

/**
 * What a group owns elsewhere, removed when the group is deleted (a user's deletion deletes
 * their personal group): its catalogs with their VMs, and its storage images' files. The
 * database cascades the rest (shares, storage and NIC rows, memberships).
 */
@Injectable()
export class GroupContentsService {
  constructor(
    private readonly vms: VmsRepository,
    private readonly catalogs: CatalogsService,
    private readonly storage: StorageService,
  ) {}

  /**
   * Refuses (409) while VMs outside the groups use their storage or NICs; otherwise deletes
   * the groups' catalogs (stopping and removing their VMs). Returns what to run once the
   * groups' rows are gone: removing the image files.
   */
  async removeContents(gids: string[]): Promise<() => Promise<void>> {
    const user = gids.length ? await this.vms.usingGroupResourcesOutside(gids) : null;
    if (user) {
      throw new ApiError('GROUP_IN_USE', `VM ${user} uses storage or NICs the group owns; detach them or delete that VM first`, { vmid: user });
    }
    await this.catalogs.deleteOwnedBy(gids);
    return this.storage.filesRemoverFor(gids);
  }
}
