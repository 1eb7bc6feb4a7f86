import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UnitOfWork } from '../../src/database/unit-of-work';
import { definitionOf } from '../../src/vms/vm-definition';
import { VmsRepository } from '../../src/vms/vms.repository';
import { TestApp } from '../support/test-app';
import { createEfiVm, makeVmWorld, setState, VmWorld } from '../support/vm-fixture';

/**
 * GET /v and GET /v/list answer from memory after the first read (VmsRepository). A copy that
 * outlives a write shows a definition that no longer exists, so each case reads first (the
 * copy is made), writes, and checks that the very next read shows the write — or, for a write
 * that rolled back, that it does not.
 */
describe('VM definitions read from memory follow every write', () => {
  let t: TestApp;
  let w: VmWorld;

  before(async () => {
    t = await TestApp.start();
    w = await makeVmWorld(t, 'readcache');
  });
  after(() => t.close());

  const getVm = async (vmid: string) => {
    const reply = await t.call({ method: 'GET', url: '/v', token: w.owner.token, query: { vmid } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body;
  };
  const listNames = async (cid: string, query: Record<string, string> = {}) => {
    const reply = await t.call({ method: 'GET', url: '/v/list', token: w.owner.token, query: { cid, ...query } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return { names: reply.body.vms.map((v: { name: string }) => v.name), total: reply.body.total };
  };

  it('create, rename, change and delete show in the very next GET /v and GET /v/list', async () => {
    const catalog = await t.call({ method: 'PUT', url: '/c', token: w.owner.token, body: { group: w.gid, label: 'readcache list' } });
    const cid = catalog.body.cid;
    const b = await createEfiVm(t, w.owner.token, { name: 'b', catalog: cid });
    assert.deepEqual(await listNames(cid), { names: ['b'], total: 1 });
    await createEfiVm(t, w.owner.token, { name: 'c', catalog: cid });
    assert.deepEqual(await listNames(cid), { names: ['b', 'c'], total: 2 }, 'a new VM is listed at once');

    assert.equal((await getVm(b)).cpu_count, 1);
    const patched = await t.call({ method: 'PATCH', url: '/v', token: w.owner.token, body: { vmid: b, name: 'd', cpu_count: 2, nics: [w.natNic] } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const after = await getVm(b);
    assert.deepEqual([after.name, after.cpu_count, after.nics.length], ['d', 2, 1]);
    assert.deepEqual(await listNames(cid), { names: ['c', 'd'], total: 2 }, 'a rename moves the VM in the order by name');
    assert.deepEqual(await listNames(cid, { limit: '1', offset: '1' }), { names: ['d'], total: 2 });

    const deleted = await t.call({ method: 'DELETE', url: '/v', token: w.owner.token, body: { vmid: b } });
    assert.equal(deleted.status, 200);
    assert.deepEqual(await listNames(cid), { names: ['c'], total: 1 });
    assert.equal((await t.call({ method: 'GET', url: '/v', token: w.owner.token, query: { vmid: b } })).body.code, 'VM_NOT_FOUND');
  });

  it('a recorded error shows in the very next GET /v', async () => {
    const vmid = await createEfiVm(t, w.owner.token, { name: 'failing', catalog: w.cid, sim: { fail: { start: 'injected start failure' } } });
    assert.equal((await getVm(vmid)).last_error, null);
    assert.notEqual((await setState(t, w.owner.token, vmid, 'RUNNING')).status, 200);
    assert.equal((await getVm(vmid)).last_error, 'injected start failure');
  });

  it('a read made while a change was being written, seeing it uncommitted, is not kept once the change rolls back', async () => {
    const vmid = await createEfiVm(t, w.owner.token, { name: 'rolled-back', catalog: w.cid });
    const repository = t.app.get(VmsRepository);
    const stored = (await repository.load(vmid))!;
    const rollback = new Error('rolled back on purpose');
    const during = await t.app
      .get(UnitOfWork)
      .run(async (manager) => {
        await repository.update(manager, vmid, w.cid, { ...definitionOf(stored), cpu_count: 3 }, { storage: [], nics: [] });
        // The connection is shared, so this read sees the uncommitted row.
        const seen = await getVm(vmid);
        throw Object.assign(rollback, { seen });
      })
      .catch((error: typeof rollback & { seen?: { cpu_count: number } }) => error.seen);
    assert.equal(during?.cpu_count, 3, 'the read during the transaction saw the uncommitted change');
    assert.equal((await getVm(vmid)).cpu_count, 1, 'after the rollback, the stored definition');
    assert.deepEqual((await listNames(w.cid)).names.includes('rolled-back'), true);
  });
});
