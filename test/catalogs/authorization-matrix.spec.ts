import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CATALOG_PERMISSIONS, CatalogPermission } from '../../src/catalogs/permissions/catalog-permission';
import { requestTo, rowName } from '../support/matrix-route';
import { TestApp } from '../support/test-app';
import { CATALOG_COLLECTION_ENDPOINTS, CATALOG_ENDPOINTS, CatalogCollectionEndpoint, CatalogFixture } from './authorization-matrix.rows';

/**
 * Generated authorization matrix for every catalog endpoint. Those that act on one catalog:
 * for each of the seven permissions, a caller holding only it, a caller holding all but it, a
 * member of the owning group, root, a user with no relation and a request without a key;
 * and API tokens of the owning group's member (who holds all seven) limited to the catalog
 * with only the needed permission (allowed), with all but it (401), or limited to another
 * catalog (404). Those that act on no one catalog (create, list): a catalogmanager in the
 * owning group, root, a catalogmanager outside it, a user who is no catalogmanager, the
 * member's API tokens without limits and limited to a catalog, and no key.
 */

function flags(granted: (p: CatalogPermission) => boolean): Record<CatalogPermission, boolean> {
  return Object.fromEntries(CATALOG_PERMISSIONS.map((p) => [p, granted(p)])) as Record<CatalogPermission, boolean>;
}

describe('catalog authorization matrix', () => {
  let t: TestApp;
  let root: string;
  let ownerToken: string;
  let ownersGid: string;
  let strangerToken: string;
  let plainToken: string;
  let fixture: CatalogFixture;
  /** The owning group member's API tokens: without limits, and limited to another catalog (with every permission). */
  let unlimitedToken: string;
  let otherCatalogToken: string;
  let tokenNames = 0;
  const only = new Map<CatalogPermission, { token: string; gid: string }>();
  const allBut = new Map<CatalogPermission, { token: string; gid: string }>();

  before(async () => {
    t = await TestApp.start();
    root = await t.loginRoot();
    const catalogmanager = await t.specialGroupId(root, 'catalogmanager');
    ownersGid = await t.createGroup(root, 'owners');
    fixture = { ownersGid, bystanderGid: await t.createGroup(root, 'bystanders') };
    ownerToken = (await t.createUser(root, 'owner', [ownersGid, catalogmanager])).token;
    strangerToken = (await t.createUser(root, 'stranger', [catalogmanager])).token;
    plainToken = (await t.createUser(root, 'plain')).token;
    for (const p of CATALOG_PERMISSIONS) {
      // Every matrix user is a catalogmanager, so DELETE /c turns on the share permission alone.
      const onlyGid = await t.createGroup(root, `only-${p}`);
      only.set(p, { gid: onlyGid, token: (await t.createUser(root, `user-only-${p}`, [onlyGid, catalogmanager])).token });
      const butGid = await t.createGroup(root, `allbut-${p}`);
      allBut.set(p, { gid: butGid, token: (await t.createUser(root, `user-allbut-${p}`, [butGid, catalogmanager])).token });
    }
    unlimitedToken = await ownersApiToken();
    otherCatalogToken = await ownersApiToken(await freshCatalog('view'), CATALOG_PERMISSIONS);
  });
  after(() => t.close());

  /** An API token of the owning group member, limited to catalog `cid` with `permissions` (none: no limits). */
  async function ownersApiToken(cid?: string, permissions: readonly CatalogPermission[] = []): Promise<string> {
    const body = { name: `matrix-${++tokenNames}`, ...(cid ? { catalogs: [{ cid, permissions }] } : {}) };
    return (await t.createApiToken(ownerToken, body)).secret;
  }

  /** A fresh catalog per case, shared so that the case's callers hold what they should. */
  async function freshCatalog(p: CatalogPermission): Promise<string> {
    const created = await t.call({ method: 'PUT', url: '/c', token: ownerToken, body: { group: ownersGid, label: `matrix ${p}` } });
    assert.equal(created.status, 200);
    const cid = created.body.cid;
    const shares = [
      { gid: only.get(p)!.gid, ...flags((q) => q === p) },
      { gid: allBut.get(p)!.gid, ...flags((q) => q !== p) },
      { gid: fixture.bystanderGid, ...flags((q) => q === 'view') },
    ];
    for (const share of shares) {
      assert.equal((await t.call({ method: 'POST', url: '/c/share', token: ownerToken, body: { cid, ...share } })).status, 200);
    }
    return cid;
  }

  async function snapshot(): Promise<string> {
    const catalogs = await t.dataSource.query('SELECT * FROM catalogs ORDER BY cid');
    const shares = await t.dataSource.query('SELECT * FROM catalog_shares ORDER BY cid, gid');
    return JSON.stringify({ catalogs, shares });
  }

  for (const endpoint of CATALOG_ENDPOINTS) {
    for (const p of CATALOG_PERMISSIONS) {
      const callers: Array<{ who: string; token: (cid: string) => string | undefined | Promise<string>; status: number }> = [
        { who: `only ${p}`, token: () => only.get(p)!.token, status: p === endpoint.permission ? 200 : 401 },
        { who: `all but ${p}`, token: () => allBut.get(p)!.token, status: p === endpoint.permission ? 401 : 200 },
      ];
      if (p === endpoint.permission) {
        callers.push(
          { who: 'owning group member', token: () => ownerToken, status: 200 },
          { who: 'root', token: () => root, status: 200 },
          { who: 'no relation', token: () => strangerToken, status: 404 },
          { who: 'no key', token: () => undefined, status: 401 },
          { who: 'unknown key', token: () => 'not-a-real-key', status: 401 },
          { who: `owner's API token limited to the catalog with only ${p}`, token: (cid) => ownersApiToken(cid, [p]), status: 200 },
          { who: `owner's API token limited to the catalog with all but ${p}`, token: (cid) => ownersApiToken(cid, CATALOG_PERMISSIONS.filter((q) => q !== p)), status: 401 },
          { who: 'owner\'s API token limited to another catalog', token: () => otherCatalogToken, status: 404 },
        );
      }
      for (const caller of callers) {
        it(`${rowName(endpoint)} [needs ${endpoint.permission}] by ${caller.who} → ${caller.status}`, async () => {
          const cid = await freshCatalog(p);
          const token = await caller.token(cid);
          const before = await snapshot();
          const reply = await t.call({ ...requestTo(endpoint, endpoint.request(cid, fixture)), token });
          assert.equal(reply.status, caller.status, JSON.stringify(reply.body));
          if (caller.status !== 200) {
            assert.equal(typeof reply.body.code, 'string');
            assert.equal(await snapshot(), before, 'a denied request changes nothing');
          }
        });
      }
    }
  }

  /** Callers of the endpoints that act on no one catalog; each request names the owning group. */
  const COLLECTION_CALLERS: Array<{ who: string; token: () => string | undefined; membership: 'owner' | 'root' | 'stranger' | 'plain' | 'catalog-limited token' | 'none' }> = [
    { who: 'owning group member', token: () => ownerToken, membership: 'owner' },
    { who: 'owning group member\'s API token without limits', token: () => unlimitedToken, membership: 'owner' },
    { who: 'owning group member\'s API token limited to a catalog', token: () => otherCatalogToken, membership: 'catalog-limited token' },
    { who: 'root', token: () => root, membership: 'root' },
    { who: 'catalogmanager outside the owning group', token: () => strangerToken, membership: 'stranger' },
    { who: 'user who is no catalogmanager', token: () => plainToken, membership: 'plain' },
    { who: 'no key', token: () => undefined, membership: 'none' },
    { who: 'unknown key', token: () => 'not-a-real-key', membership: 'none' },
  ];

  function collectionExpectation(endpoint: CatalogCollectionEndpoint, membership: (typeof COLLECTION_CALLERS)[number]['membership']) {
    if (membership === 'none') return { status: 401, code: 'AUTH_REQUIRED' };
    if (endpoint.needs === 'any' || membership === 'owner' || membership === 'root') return { status: 200 };
    // Creating a catalog is beyond any one catalog.
    if (membership === 'catalog-limited token') return { status: 401, code: 'PERMISSION_DENIED' };
    return membership === 'stranger' ? { status: 404, code: 'GROUP_NOT_FOUND' } : { status: 401, code: 'PERMISSION_DENIED' };
  }

  let n = 0;
  for (const endpoint of CATALOG_COLLECTION_ENDPOINTS) {
    for (const caller of COLLECTION_CALLERS) {
      const expected = collectionExpectation(endpoint, caller.membership);
      it(`${rowName(endpoint)} [needs ${endpoint.needs}] by ${caller.who} → ${expected.status}`, async () => {
        const before = await snapshot();
        const reply = await t.call({ ...requestTo(endpoint, endpoint.request(++n, fixture)), token: caller.token() });
        assert.equal(reply.status, expected.status, JSON.stringify(reply.body));
        if (expected.code) {
          assert.equal(reply.body.code, expected.code);
          assert.equal(await snapshot(), before, 'a denied request changes nothing');
        }
      });
    }
  }

  it('GET /c/list shows each caller exactly their effective permissions', async () => {
    const cid = await freshCatalog('state');
    const find = async (token: string) => {
      const reply = await t.call({ method: 'GET', url: '/c/list', token, query: { limit: '1000' } });
      assert.equal(reply.status, 200);
      return reply.body.catalogs.find((c: { cid: string }) => c.cid === cid);
    };
    assert.deepEqual((await find(only.get('state')!.token)).permissions, flags((q) => q === 'state'));
    assert.deepEqual((await find(allBut.get('state')!.token)).permissions, flags((q) => q !== 'state'));
    assert.deepEqual((await find(ownerToken)).permissions, flags(() => true));
    assert.deepEqual((await find(root)).permissions, flags(() => true));
    assert.equal(await find(strangerToken), undefined);
    assert.equal((await t.call({ method: 'GET', url: '/c/list' })).status, 401);
  });

  it('an expired key is refused on every catalog endpoint', async () => {
    const cid = await freshCatalog('manage');
    const before = await snapshot();
    t.clock.advance(t.config.authkeyTtlSeconds + 1);
    try {
      const requests = [
        ...CATALOG_ENDPOINTS.map((endpoint) => ({ name: rowName(endpoint), ...requestTo(endpoint, endpoint.request(cid, fixture)) })),
        ...CATALOG_COLLECTION_ENDPOINTS.map((endpoint) => ({ name: rowName(endpoint), ...requestTo(endpoint, endpoint.request(++n, fixture)) })),
      ];
      for (const { name, ...request } of requests) {
        const reply = await t.call({ ...request, token: ownerToken });
        assert.equal(reply.status, 401, name);
        assert.equal(reply.body.code, 'AUTH_REQUIRED');
      }
      assert.equal(await snapshot(), before);
    } finally {
      t.clock.advance(-(t.config.authkeyTtlSeconds + 1));
    }
  });
});
