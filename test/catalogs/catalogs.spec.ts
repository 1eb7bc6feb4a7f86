import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestApp } from '../support/test-app';

const ALL = { manage: true, view: true, create: true, alter: true, remove: true, state: true, interact: true };
const NONE = { manage: false, view: false, create: false, alter: false, remove: false, state: false, interact: false };

describe('catalogs and shares', () => {
  let t: TestApp;
  let root: string;
  let catalogmanager: string;
  let alice: { uid: string; token: string; personalGid: string };
  let bob: { uid: string; token: string; personalGid: string };
  let teamA: string;
  let teamB: string;

  before(async () => {
    t = await TestApp.start();
    root = await t.loginRoot();
    catalogmanager = await t.specialGroupId(root, 'catalogmanager');
    teamA = await t.createGroup(root, 'team-a');
    teamB = await t.createGroup(root, 'team-b');
    alice = await t.createUser(root, 'alice', [catalogmanager, teamA]);
    bob = await t.createUser(root, 'bob', [teamA, teamB]);
  });
  after(() => t.close());

  async function createCatalog(token: string, group: string, label = 'catalog'): Promise<string> {
    const reply = await t.call({ method: 'PUT', url: '/c', token, body: { group, label } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.match(reply.body.cid, /^[0-9a-f-]{36}$/);
    return reply.body.cid;
  }

  it('PUT /c needs catalogmanager (401) and membership of an existing group (404)', async () => {
    const notManager = await t.call({ method: 'PUT', url: '/c', token: bob.token, body: { group: teamA, label: 'x' } });
    assert.equal(notManager.status, 401);
    const notMember = await t.call({ method: 'PUT', url: '/c', token: alice.token, body: { group: teamB, label: 'x' } });
    assert.equal(notMember.status, 404);
    assert.equal(notMember.body.code, 'GROUP_NOT_FOUND');
    const missing = await t.call({ method: 'PUT', url: '/c', token: alice.token, body: { group: '00000000-0000-4000-8000-000000000000', label: 'x' } });
    assert.equal(missing.status, 404);
    assert.equal(await t.count('catalogs'), 0);
    // root may create a catalog for any group.
    await createCatalog(root, teamB, 'by root');
  });

  it('share updates replace the earlier flags', async () => {
    const cid = await createCatalog(alice.token, teamA, 'replace');
    const first = await t.call({ method: 'POST', url: '/c/share', token: alice.token, body: { cid, gid: teamB, ...ALL } });
    assert.deepEqual(first.body, { cid, gid: teamB, ...ALL });
    const second = await t.call({ method: 'POST', url: '/c/share', token: alice.token, body: { cid, gid: teamB, view: true } });
    assert.equal(second.status, 200);
    assert.deepEqual(second.body, { cid, gid: teamB, ...NONE, view: true });
    const listed = await t.call({ method: 'GET', url: '/c/share', token: alice.token, query: { cid } });
    assert.deepEqual(listed.body, { cid, shares: [{ gid: teamB, ...NONE, view: true }] });
    assert.equal(await t.count('catalog_shares', 'cid = ?', [cid]), 1);
  });

  it('sharing with an unknown group is 404; revoking a share that does not exist is 404', async () => {
    const cid = await createCatalog(alice.token, teamA, 'revoke');
    const unknown = await t.call({ method: 'POST', url: '/c/share', token: alice.token, body: { cid, gid: '00000000-0000-4000-8000-000000000000', view: true } });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.code, 'GROUP_NOT_FOUND');
    const revoke = await t.call({ method: 'DELETE', url: '/c/share', token: alice.token, body: { cid, gid: teamB } });
    assert.equal(revoke.status, 404);
    assert.equal(revoke.body.code, 'SHARE_NOT_FOUND');
    await t.call({ method: 'POST', url: '/c/share', token: alice.token, body: { cid, gid: teamB, view: true } });
    const ok = await t.call({ method: 'DELETE', url: '/c/share', token: alice.token, body: { cid, gid: teamB } });
    assert.deepEqual([ok.status, ok.body], [200, { cid, gid: teamB }]);
  });

  it('a user in several groups gets the union of their shares', async () => {
    const carol = await t.createUser(root, 'carol');
    const owners = await t.createGroup(root, 'union-owners');
    const g1 = await t.createGroup(root, 'union-1');
    const g2 = await t.createGroup(root, 'union-2');
    await t.call({ method: 'PUT', url: '/u/group/assign', token: root, body: { uid: carol.uid, groups: [g1, g2] } });
    const cid = await createCatalog(root, owners, 'union');
    await t.call({ method: 'POST', url: '/c/share', token: root, body: { cid, gid: g1, view: true, state: true } });
    await t.call({ method: 'POST', url: '/c/share', token: root, body: { cid, gid: g2, manage: true, interact: true } });
    const list = await t.call({ method: 'GET', url: '/c/list', token: carol.token });
    const entry = list.body.catalogs.find((c: { cid: string }) => c.cid === cid);
    assert.deepEqual(entry.permissions, { ...NONE, view: true, state: true, manage: true, interact: true });
    // manage comes from the second group: carol may list shares.
    assert.equal((await t.call({ method: 'GET', url: '/c/share', token: carol.token, query: { cid } })).status, 200);
  });

  it('a share with no flags set does not make the catalog visible', async () => {
    const cid = await createCatalog(root, teamA, 'invisible');
    const dave = await t.createUser(root, 'dave');
    await t.call({ method: 'POST', url: '/c/share', token: root, body: { cid, gid: dave.personalGid } });
    const reply = await t.call({ method: 'GET', url: '/c/share', token: dave.token, query: { cid } });
    assert.equal(reply.status, 404);
    const list = await t.call({ method: 'GET', url: '/c/list', token: dave.token });
    assert.equal(list.body.catalogs.some((c: { cid: string }) => c.cid === cid), false);
  });

  it('the seed\'s GET endpoints take their fields from a JSON body or from the query string', async () => {
    const cid = await createCatalog(alice.token, teamA, 'get-forms');
    const viaBody = await t.call({ method: 'GET', url: '/c/share', body: { authkey: alice.token, cid } });
    const viaQuery = await t.call({ method: 'GET', url: '/c/share', query: { authkey: alice.token, cid } });
    assert.deepEqual([viaBody.status, viaQuery.status], [200, 200]);
    assert.deepEqual(viaBody.body, viaQuery.body);
    const listBody = await t.call({ method: 'GET', url: '/c/list', body: { authkey: alice.token, limit: 1 } });
    const listQuery = await t.call({ method: 'GET', url: '/c/list', query: { authkey: alice.token, limit: '1' } });
    assert.equal(listBody.body.catalogs.length, 1);
    assert.deepEqual(listBody.body, listQuery.body);
    const bad = await t.call({ method: 'GET', url: '/c/share', token: alice.token, query: { cid: 'nope' } });
    assert.equal(bad.status, 400);
  });

  it('GET /c/list is paginated', async () => {
    const owners = await t.createGroup(root, 'paging');
    const erin = await t.createUser(root, 'erin', [owners]);
    const cids = [];
    for (let i = 0; i < 5; i++) cids.push(await createCatalog(root, owners, `page ${i}`));
    const seen: string[] = [];
    for (let offset = 0; offset < 6; offset += 2) {
      const page = await t.call({ method: 'GET', url: '/c/list', token: erin.token, query: { limit: '2', offset: String(offset) } });
      assert.equal(page.body.total, 5);
      assert.equal(page.body.limit, 2);
      assert.equal(page.body.offset, offset);
      seen.push(...page.body.catalogs.map((c: { cid: string }) => c.cid));
    }
    assert.deepEqual(seen.sort(), cids.sort());
    const tooBig = await t.call({ method: 'GET', url: '/c/list', token: erin.token, query: { limit: '100000' } });
    assert.equal(tooBig.status, 400);
  });

  it('DELETE /c needs catalogmanager and removes the catalog with its shares', async () => {
    const cid = await createCatalog(alice.token, teamA, 'doomed');
    await t.call({ method: 'POST', url: '/c/share', token: alice.token, body: { cid, gid: teamB, view: true } });
    // bob is in the owning group (all permissions) but not a catalogmanager.
    const denied = await t.call({ method: 'DELETE', url: '/c', token: bob.token, body: { cid } });
    assert.equal(denied.status, 401);
    assert.equal(await t.count('catalogs', 'cid = ?', [cid]), 1);
    const ok = await t.call({ method: 'DELETE', url: '/c', token: alice.token, body: { cid } });
    assert.deepEqual([ok.status, ok.body], [200, { cid }]);
    assert.equal(await t.count('catalogs', 'cid = ?', [cid]), 0);
    assert.equal(await t.count('catalog_shares', 'cid = ?', [cid]), 0);
    assert.equal((await t.call({ method: 'DELETE', url: '/c', token: alice.token, body: { cid } })).status, 404);
  });

  it('deleting a user deletes the catalogs their personal group owned', async () => {
    const frank = await t.createUser(root, 'frank', [catalogmanager]);
    const cid = await createCatalog(frank.token, frank.personalGid, 'personal');
    await t.call({ method: 'DELETE', url: '/u/user', token: root, body: { uid: frank.uid } });
    assert.equal(await t.count('catalogs', 'cid = ?', [cid]), 0);
  });
});
