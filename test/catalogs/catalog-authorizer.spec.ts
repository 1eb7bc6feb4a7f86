import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ModuleRef } from '@nestjs/core';
import { CatalogAuthorizer } from '../../src/catalogs/permissions/catalog-authorizer';
import { NO_PERMISSIONS, permissionSet } from '../../src/catalogs/permissions/catalog-permission';
import { CatalogAccess, CatalogPermissionsService } from '../../src/catalogs/permissions/catalog-permissions.service';
import { CATALOG_BY_CID, CatalogIdResolver, CatalogReference } from '../../src/catalogs/permissions/catalog-references';
import { AuthenticatedUser } from '../../src/identity/auth/authenticated-user';
import { rejectionOf } from '../support/api-error';
import { strictFake } from '../support/strict-fake';

/**
 * The authorizer's decision without an app or a database: the permission model is a fake
 * answering per catalog, and a VM reference resolves through a fake resolver provider.
 */

const CATALOG = '11111111-1111-4111-8111-111111111111';
const HIDDEN = '22222222-2222-4222-8222-222222222222';
const VM = '33333333-3333-4333-8333-333333333333';
const ORPHAN_VM = '44444444-4444-4444-8444-444444444444';
const caller = new AuthenticatedUser('u', 'bob', []);

class VmResolver implements CatalogIdResolver {
  async catalogOf(id: string): Promise<string | null> {
    return id === VM ? CATALOG : null;
  }
}
const VM_REFERENCE: CatalogReference = { field: 'vmid', resolver: VmResolver, notFound: 'VM_NOT_FOUND' };

function authorizer(access: Record<string, CatalogAccess['permissions']>): CatalogAuthorizer {
  const permissions = strictFake<CatalogPermissionsService>('permissions', {
    resolve: async (_user: AuthenticatedUser, cid: string) =>
      cid in access ? { cid, label: 'l', gid: 'g', groupname: 'g', permissions: access[cid] } : null,
  });
  const moduleRef = strictFake<ModuleRef>('moduleRef', {
    get: ((token: unknown) => {
      assert.equal(token, VmResolver, 'the reference names its resolver provider');
      return new VmResolver();
    }) as ModuleRef['get'],
  });
  return new CatalogAuthorizer(permissions, moduleRef);
}

async function refusal(promise: Promise<unknown>): Promise<[number, string]> {
  const error = await rejectionOf(promise);
  return [error.status, error.code];
}

describe('CatalogAuthorizer (fakes, no app)', () => {
  const viewOnly = permissionSet((p) => p === 'view');
  const access = { [CATALOG]: viewOnly, [HIDDEN]: NO_PERMISSIONS };

  it('grants a permission the caller has, and "any" for a visible catalog', async () => {
    assert.equal((await authorizer(access).authorize(caller, { permission: 'view', reference: CATALOG_BY_CID }, CATALOG)).cid, CATALOG);
    assert.equal((await authorizer(access).authorize(caller, { permission: 'any', reference: CATALOG_BY_CID }, CATALOG)).cid, CATALOG);
  });

  it('a visible catalog without the permission: 401', async () => {
    assert.deepEqual(await refusal(authorizer(access).authorize(caller, { permission: 'state', reference: CATALOG_BY_CID }, CATALOG)), [401, 'PERMISSION_DENIED']);
  });

  it('a catalog the caller has no permission on, or none at all: the same 404', async () => {
    assert.deepEqual(await refusal(authorizer(access).authorize(caller, { permission: 'view', reference: CATALOG_BY_CID }, HIDDEN)), [404, 'CATALOG_NOT_FOUND']);
    const unknown = '55555555-5555-4555-8555-555555555555';
    assert.deepEqual(await refusal(authorizer(access).authorize(caller, { permission: 'view', reference: CATALOG_BY_CID }, unknown)), [404, 'CATALOG_NOT_FOUND']);
  });

  it('a VM is authorized through its catalog; an unknown VM is the reference\'s 404', async () => {
    assert.equal((await authorizer(access).authorize(caller, { permission: 'view', reference: VM_REFERENCE }, VM)).cid, CATALOG);
    assert.deepEqual(await refusal(authorizer(access).authorize(caller, { permission: 'view', reference: VM_REFERENCE }, ORPHAN_VM)), [404, 'VM_NOT_FOUND']);
  });

  it('a malformed id is a 400 before any lookup', async () => {
    const strict = new CatalogAuthorizer(strictFake<CatalogPermissionsService>('permissions', {}), strictFake<ModuleRef>('moduleRef', {}));
    for (const id of ['not-a-uuid', undefined, 42]) {
      assert.deepEqual(await refusal(strict.authorize(caller, { permission: 'view', reference: VM_REFERENCE }, id)), [400, 'VALIDATION_FAILED']);
    }
  });
});
