import { CatalogReference } from '../catalogs/permissions/catalog-references';

/** The catalog of a request that names a VM: through the VM (`vmid`). */
export const VM_BY_VMID: CatalogReference = { field: 'vmid', resolver: 'vm', notFound: 'VM_NOT_FOUND' };

/** The catalog of a VM creation request, named by its `catalog` field. */
export const CATALOG_BY_CATALOG_FIELD: CatalogReference = { field: 'catalog', resolver: 'catalog', notFound: 'CATALOG_NOT_FOUND' };
