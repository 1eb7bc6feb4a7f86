import { CatalogPermission } from '../../src/catalogs/permissions/catalog-permission';
import { MatrixRoute, RequestParts } from '../support/matrix-route';

// The rows of the /c authorization matrix (authorization-matrix.spec.ts), apart from it so
// the route-coverage test can read them without running the matrix.

/** The matrix's groups that requests name. */
export interface CatalogFixture {
  ownersGid: string;
  bystanderGid: string;
}

/** An endpoint that acts on one catalog: who may is a matter of that catalog's permissions. */
export interface CatalogEndpoint extends MatrixRoute {
  permission: CatalogPermission;
  request: (cid: string, f: CatalogFixture) => RequestParts;
}

export const CATALOG_ENDPOINTS: CatalogEndpoint[] = [
  { method: 'GET', path: '/c/share', variant: 'query', permission: 'manage', request: (cid) => ({ query: { cid } }) },
  { method: 'GET', path: '/c/share', variant: 'body', permission: 'manage', request: (cid) => ({ body: { cid } }) },
  {
    method: 'POST',
    path: '/c/share',
    permission: 'manage',
    request: (cid, f) => ({ body: { cid, gid: f.bystanderGid, view: true, interact: true } }),
  },
  { method: 'DELETE', path: '/c/share', permission: 'manage', request: (cid, f) => ({ body: { cid, gid: f.bystanderGid } }) },
  { method: 'DELETE', path: '/c', permission: 'manage', request: (cid) => ({ body: { cid } }) },
];

/** An endpoint that acts on no one catalog: who may is a matter of the caller's groups. */
export interface CatalogCollectionEndpoint extends MatrixRoute {
  /**
   * 'catalogmanager of the named group': a catalogmanager who is a member of the group the
   * request names (or root); 'any': every authenticated caller.
   */
  needs: 'catalogmanager of the named group' | 'any';
  request: (n: number, f: CatalogFixture) => RequestParts;
}

export const CATALOG_COLLECTION_ENDPOINTS: CatalogCollectionEndpoint[] = [
  { method: 'PUT', path: '/c', needs: 'catalogmanager of the named group', request: (n, f) => ({ body: { group: f.ownersGid, label: `made ${n}` } }) },
  { method: 'GET', path: '/c/list', needs: 'any', request: () => ({ query: { limit: '1000' } }) },
];
