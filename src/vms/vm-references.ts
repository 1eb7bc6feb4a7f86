import { CatalogReference } from '../catalogs/permissions/catalog-references';
import { VmsRepository } from './vms.repository';

/** The catalog of a request that names a VM: the catalog the VM lives in (`vmid`). */
export const VM_BY_VMID: CatalogReference = { field: 'vmid', resolver: VmsRepository, notFound: 'VM_NOT_FOUND' };

/** The catalog of a VM creation request, named by its `catalog` field. */
export const CATALOG_BY_CATALOG_FIELD: CatalogReference = { field: 'catalog', notFound: 'CATALOG_NOT_FOUND' };
