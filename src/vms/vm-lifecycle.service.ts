import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { CatalogDeletionHooks } from '../catalogs/catalog-deletion-hooks';
import { CatalogReferenceResolvers } from '../catalogs/permissions/catalog-references';
import { ApiError } from '../common/errors/api-error';
import { UnitOfWork } from '../database/unit-of-work';
import { GroupDeletionHooks } from '../identity/group-deletion-hooks';
import { HypervisorService } from '../hypervisor/hypervisor.service';
import { ResourceUsage } from '../resources/resource-usage';
import { VmEntity } from './entities/vm.entity';
import { VmStateService } from './vm-state.service';
import { VmsRepository } from './vms.repository';
import { VmsService } from './vms.service';

/**
 * Ties VMs into the rest of the server: the catalog guard resolves `vmid`s through here,
 * deleting a catalog deletes its VMs, resources in use cannot be deleted; and at start
 * every VM is defined in the driver, its recorded state reconciled, autostart VMs started.
 */
@Injectable()
export class VmLifecycleService implements OnApplicationBootstrap {
  private readonly logger = new Logger('VmLifecycle');

  constructor(
    private readonly repository: VmsRepository,
    private readonly vms: VmsService,
    private readonly states: VmStateService,
    private readonly hypervisor: HypervisorService,
    private readonly unitOfWork: UnitOfWork,
    resolvers: CatalogReferenceResolvers,
    deletionHooks: CatalogDeletionHooks,
    usage: ResourceUsage,
    groupDeletion: GroupDeletionHooks,
  ) {
    resolvers.register('vm', (vmid) => this.repository.catalogOf(vmid));
    groupDeletion.registerCheck(async (gids) => {
      const vmid = gids.length ? await this.repository.usingGroupResourcesOutside(gids) : null;
      if (vmid) throw new ApiError('GROUP_IN_USE', `VM ${vmid} uses storage or NICs the group owns; detach them or delete that VM first`, { vmid });
    });
    deletionHooks.register((cid) => this.deleteCatalogVms(cid));
    usage.register((kind, id) => this.repository.usedBy(kind, id));
  }

  async onApplicationBootstrap(): Promise<void> {
    const records = await this.repository.all();
    const autostart: string[] = [];
    for (const record of records) {
      const { vmid, name } = record.vm;
      let lastError: string | null = record.vm.lastError;
      try {
        await this.vms.defineInDriver(record);
      } catch (error) {
        lastError = `could not be defined in the ${this.hypervisor.driverName} driver at start: ${(error as Error).message}`;
        this.logger.error(`VM ${name} (${vmid}) ${lastError}`);
      }
      const state = this.states.current(vmid, 'STOPPED');
      if (state !== record.vm.state) this.logger.log(`VM ${name} (${vmid}): recorded ${record.vm.state}, driver reports ${state}`);
      await this.unitOfWork.run((manager) => manager.update(VmEntity, { vmid }, { state, lastError }));
      if (record.vm.autostart && state === 'STOPPED' && this.hypervisor.knows(vmid)) autostart.push(vmid);
    }
    // Autostart runs in the background: the server answers (and reports STARTING) meanwhile.
    for (const vmid of autostart) {
      this.states.request(vmid, 'RUNNING', false).catch((error: Error) => this.logger.error(`autostart of VM ${vmid} failed: ${error.message}`));
    }
    if (records.length) this.logger.log(`${records.length} VM(s) reconciled, ${autostart.length} autostarting`);
  }

  private async deleteCatalogVms(cid: string): Promise<void> {
    for (const vmid of await this.repository.idsInCatalog(cid)) await this.vms.delete(vmid, true);
  }
}
