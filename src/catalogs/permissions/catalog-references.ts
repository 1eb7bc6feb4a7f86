import { Type } from '@nestjs/common';
import { ErrorCode } from '../../common/errors/error-codes';

/** Turns an id from a request (a VM's, say) into the id of the catalog it lives in; null if unknown. */
export interface CatalogIdResolver {
  catalogOf(id: string): Promise<string | null>;
}

/**
 * Where a handler's request names the catalog it acts on: the request field to read and,
 * when that field is not the catalog's own id, the provider that resolves it (for a `vmid`,
 * the VMs' repository). `notFound` is the code for an id that does not exist or that the
 * caller cannot see — the two are indistinguishable on purpose.
 */
export interface CatalogReference {
  field: string;
  resolver?: Type<CatalogIdResolver>;
  notFound: ErrorCode;
}

export const CATALOG_BY_CID: CatalogReference = { field: 'cid', notFound: 'CATALOG_NOT_FOUND' };
