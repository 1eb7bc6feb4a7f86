import { Injectable } from '@nestjs/common';
import { ErrorCode } from '../../common/errors/error-codes';

/**
 * Where a handler's request names the catalog it acts on: the request field to read, and
 * the resolver that turns that field's id into a catalog id (a VM id is resolved through
 * its VM, for example). `notFound` is the code for an id that does not exist or that the
 * caller cannot see — the two are indistinguishable on purpose.
 */
export interface CatalogReference {
  field: string;
  resolver: string;
  notFound: ErrorCode;
}

export const CATALOG_BY_CID: CatalogReference = { field: 'cid', resolver: 'catalog', notFound: 'CATALOG_NOT_FOUND' };

/** Resolves an id from the request into the catalog it belongs to (null if unknown). */
export type CatalogIdResolver = (id: string) => Promise<string | null>;

/**
 * Resolvers by name. Modules that own catalog-scoped things (VMs) register theirs at start,
 * so the permission guard serves them without knowing their tables.
 */
@Injectable()
export class CatalogReferenceResolvers {
  private readonly resolvers = new Map<string, CatalogIdResolver>([['catalog', async (cid) => cid]]);

  register(name: string, resolver: CatalogIdResolver): void {
    if (this.resolvers.has(name)) throw new Error(`catalog reference resolver "${name}" registered twice`);
    this.resolvers.set(name, resolver);
  }

  get(name: string): CatalogIdResolver {
    const resolver = this.resolvers.get(name);
    if (!resolver) throw new Error(`no catalog reference resolver "${name}"`);
    return resolver;
  }
}
