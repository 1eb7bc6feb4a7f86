import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestApp } from '../support/test-app';
import { createEfiVm, makeVmWorld, setState, VmWorld } from '../support/vm-fixture';

/**
 * Authorization is answered from memory (the authkey's user and groups, each catalog's owner
 * and shares, each VM's catalog, pages of the catalog list). A cache that serves a revoked
 * permission is a security bug, so each case first makes the permission's answers cached
 * (the requests succeed), then takes the permission away and checks that the very next
 * request is refused. Open streams under the same changes: test/vms/console-revocation.spec.ts
 * and test/vms/events/vm-events.spec.ts.
 */
describe('a cached permission is gone with the very next request after it is revoked', () => {
  let t: TestApp;
  let worlds = 0;

  before(async () => {
    t = await TestApp.start();
  });
  after(() => t.close());

  /** A catalog with one VM, and a user of another group who has view+state on it through a share. */
  async function sharedVm(): Promise<{ w: VmWorld; vmid: string; holder: { uid: string; token: string }; gid: string }> {
    const w = await makeVmWorld(t, `cached-${++worlds}`);
    const gid = await t.createGroup(w.root, `cached-holders-${worlds}`);
    const holder = await t.createUser(w.root, `cached-holder-${worlds}`, [gid]);
    const shared = await t.call({ method: 'POST', url: '/c/share', token: w.owner.token, body: { cid: w.cid, gid, view: true, state: true } });
    assert.equal(shared.status, 200, JSON.stringify(shared.body));
    const vmid = await createEfiVm(t, w.owner.token, { name: 'probe', catalog: w.cid });
    return { w, vmid, holder, gid };
  }

  async function stateOf(token: string, vmid: string) {
    return t.call({ method: 'GET', url: '/v/state', token, query: { vmid } });
  }

  async function listed(token: string): Promise<string[]> {
    const reply = await t.call({ method: 'GET', url: '/c/list', token, query: { limit: '1000' } });
    assert.equal(reply.status, 200);
    return reply.body.catalogs.map((c: { cid: string }) => c.cid);
  }

  /** The answers the holder's next requests would come from are in memory now. */
  async function warm(token: string, vmid: string, cid: string): Promise<void> {
    for (let i = 0; i < 2; i++) {
      assert.equal((await stateOf(token, vmid)).status, 200);
      assert.ok((await listed(token)).includes(cid));
    }
  }

  async function refused(token: string, vmid: string, cid: string, code = 'VM_NOT_FOUND'): Promise<void> {
    const reply = await stateOf(token, vmid);
    assert.equal(reply.body.code, code, JSON.stringify(reply.body));
    assert.ok(!(await listed(token)).includes(cid), 'the catalog is no longer listed');
  }

  it('share revoked (DELETE /c/share)', async () => {
    const { w, vmid, holder, gid } = await sharedVm();
    await warm(holder.token, vmid, w.cid);
    assert.equal((await t.call({ method: 'DELETE', url: '/c/share', token: w.owner.token, body: { cid: w.cid, gid } })).status, 200);
    await refused(holder.token, vmid, w.cid);
  });

  it('share replaced without state (POST /c/share): the state change is refused, the view stays', async () => {
    const { w, vmid, holder, gid } = await sharedVm();
    await warm(holder.token, vmid, w.cid);
    assert.equal((await setState(t, holder.token, vmid, 'RUNNING')).status, 200);
    assert.equal((await t.call({ method: 'POST', url: '/c/share', token: w.owner.token, body: { cid: w.cid, gid, view: true } })).status, 200);
    const reply = await setState(t, holder.token, vmid, 'STOPPED', true);
    assert.equal(reply.body.code, 'PERMISSION_DENIED', JSON.stringify(reply.body));
    const list = await t.call({ method: 'GET', url: '/c/list', token: holder.token, query: { limit: '1000' } });
    assert.equal(list.body.catalogs.find((c: { cid: string }) => c.cid === w.cid).permissions.state, false, 'the listed permissions follow');
  });

  it('membership removed (DELETE /u/group/assign)', async () => {
    const { w, vmid, holder, gid } = await sharedVm();
    await warm(holder.token, vmid, w.cid);
    const removed = await t.call({ method: 'DELETE', url: '/u/group/assign', token: w.root, body: { uid: holder.uid, groups: [gid] } });
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    await refused(holder.token, vmid, w.cid);
  });

  it('owning-group membership removed: the owner loses the catalog', async () => {
    const { w, vmid } = await sharedVm();
    await warm(w.owner.token, vmid, w.cid);
    const removed = await t.call({ method: 'DELETE', url: '/u/group/assign', token: w.root, body: { uid: w.owner.uid, groups: [w.gid] } });
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    await refused(w.owner.token, vmid, w.cid);
  });

  it('the sharing group deleted (DELETE /u/group)', async () => {
    const { w, vmid, holder, gid } = await sharedVm();
    await warm(holder.token, vmid, w.cid);
    assert.equal((await t.call({ method: 'DELETE', url: '/u/group', token: w.root, body: { gid } })).status, 200);
    await refused(holder.token, vmid, w.cid);
  });

  it('catalog deleted (DELETE /c)', async () => {
    const { w, vmid, holder } = await sharedVm();
    await warm(holder.token, vmid, w.cid);
    const deleted = await t.call({ method: 'DELETE', url: '/c', token: w.owner.token, body: { cid: w.cid } });
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    await refused(holder.token, vmid, w.cid);
    assert.equal((await t.call({ method: 'GET', url: '/c/share', token: w.owner.token, query: { cid: w.cid } })).body.code, 'CATALOG_NOT_FOUND');
  });

  it('VM deleted (DELETE /v): its id is unknown to the next request, the catalog stays', async () => {
    const { w, vmid, holder } = await sharedVm();
    await warm(holder.token, vmid, w.cid);
    assert.equal((await t.call({ method: 'DELETE', url: '/v', token: w.owner.token, body: { vmid } })).status, 200);
    assert.equal((await stateOf(holder.token, vmid)).body.code, 'VM_NOT_FOUND');
    assert.equal((await stateOf(w.owner.token, vmid)).body.code, 'VM_NOT_FOUND');
    assert.ok((await listed(holder.token)).includes(w.cid));
  });

  it('a share granted is seen by the very next request too (nothing stale either way)', async () => {
    const { w, vmid } = await sharedVm();
    const gid = await t.createGroup(w.root, `cached-late-${worlds}`);
    const late = await t.createUser(w.root, `cached-late-user-${worlds}`, [gid]);
    assert.equal((await stateOf(late.token, vmid)).body.code, 'VM_NOT_FOUND');
    assert.ok(!(await listed(late.token)).includes(w.cid));
    assert.equal((await t.call({ method: 'POST', url: '/c/share', token: w.owner.token, body: { cid: w.cid, gid, view: true } })).status, 200);
    assert.equal((await stateOf(late.token, vmid)).status, 200);
    assert.ok((await listed(late.token)).includes(w.cid));
  });
});
