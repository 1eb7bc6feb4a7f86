import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StorageEntity } from '../../src/resources/entities/storage.entity';
import { isForeignKeyViolation, isUniqueViolation } from '../../src/database/unit-of-work';
import { freshPostgresDatabase, TestDatabase } from '../support/postgres';
import { TestApp } from '../support/test-app';
import { createDisk, createEfiVm, makeVmWorld, setState, VmWorld } from '../support/vm-fixture';

const MiB = 1024 * 1024;

/**
 * The real server on PostgreSQL (VELOCITY_DATABASE_URL, a fresh database) driven through the
 * main flow, with the answers SQLite gives: the same codes for the database's refusals.
 */
describe('the API on PostgreSQL', () => {
  let db: TestDatabase;
  let t: TestApp;
  let w: VmWorld;

  before(async () => {
    db = await freshPostgresDatabase();
    t = await TestApp.start({ env: { VELOCITY_DATABASE_URL: db.url } });
    w = await makeVmWorld(t, 'pg');
  });
  after(async () => {
    await t?.close();
    await db?.drop();
  });

  it('runs on PostgreSQL, its schema built by the migrations', async () => {
    assert.equal(t.dataSource.options.type, 'postgres');
    const [{ count }] = await t.dataSource.query('SELECT COUNT(*) AS count FROM migrations');
    assert.equal(Number(count), t.dataSource.migrations.length);
  });

  it('users and groups: create, assign, list, delete', async () => {
    const team = await t.createGroup(w.root, 'pg-extra');
    const user = await t.createUser(w.root, 'pg-user', [team]);
    const users = await t.call({ method: 'GET', url: '/u/user/list', token: w.root });
    assert.equal(users.status, 200);
    const listed = users.body.users.find((u: { uid: string }) => u.uid === user.uid);
    assert.deepEqual(listed.groups.map((g: { gid: string }) => g.gid).sort(), [team, user.personalGid].sort());
    assert.equal((await t.call({ method: 'DELETE', url: '/u/user', token: w.root, body: { uid: user.uid } })).status, 200);
    assert.equal((await t.call({ method: 'DELETE', url: '/u/group', token: w.root, body: { gid: team } })).status, 200);
  });

  it('a shared catalog is listed for the sharee with the shared permissions only, until revoked', async () => {
    const sharee = await t.createUser(w.root, 'pg-sharee');
    const share = await t.call({ method: 'POST', url: '/c/share', token: w.owner.token, body: { cid: w.cid, gid: sharee.personalGid, view: true, state: true } });
    assert.equal(share.status, 200, JSON.stringify(share.body));
    const list = await t.call({ method: 'GET', url: '/c/list', token: sharee.token });
    assert.equal(list.status, 200, JSON.stringify(list.body));
    assert.equal(list.body.total, 1);
    assert.equal(list.body.catalogs[0].cid, w.cid);
    const permissions = list.body.catalogs[0].permissions;
    assert.deepEqual(Object.keys(permissions).filter((p) => permissions[p]).sort(), ['state', 'view']);
    const vms = await t.call({ method: 'GET', url: '/v/list', token: sharee.token, query: { cid: w.cid } });
    assert.equal(vms.status, 200);
    const revoked = await t.call({ method: 'DELETE', url: '/c/share', token: w.owner.token, body: { cid: w.cid, gid: sharee.personalGid } });
    assert.equal(revoked.status, 200);
    assert.equal((await t.call({ method: 'GET', url: '/c/list', token: sharee.token })).body.total, 0);
    assert.equal((await t.call({ method: 'GET', url: '/v/list', token: sharee.token, query: { cid: w.cid } })).body.code, 'CATALOG_NOT_FOUND');
  });

  it('a VM with a disk and a NIC: create, list, get, patch, start, stop, delete', async () => {
    // Three GiB: beyond a 32-bit integer, so the byte counts must be 64-bit columns.
    const disk = await createDisk(t, w.owner.token, w.gid, 'pg-disk', 3072);
    const storage = await t.call({ method: 'GET', url: '/r/storage', token: w.owner.token, query: { stid: disk } });
    assert.equal(storage.body.size_bytes, 3072 * MiB);
    const nic = await t.call({ method: 'PUT', url: '/r/nic', token: w.owner.token, body: { group: w.gid, description: 'pg-net' } });
    assert.equal(nic.status, 200, JSON.stringify(nic.body));

    const vmid = await createEfiVm(t, w.owner.token, { name: 'pg-vm', catalog: w.cid, storage_devices: [disk], nics: [nic.body.nicid] });
    const list = await t.call({ method: 'GET', url: '/v/list', token: w.owner.token, query: { cid: w.cid } });
    assert.ok(list.body.vms.some((vm: { vmid: string }) => vm.vmid === vmid));
    const patched = await t.call({ method: 'PATCH', url: '/v', token: w.owner.token, body: { vmid, memory_size_mb: 512 } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const vm = await t.call({ method: 'GET', url: '/v', token: w.owner.token, query: { vmid } });
    assert.deepEqual([vm.body.memory_size_mb, vm.body.storage_devices, vm.body.nics[0].nicid], [512, [disk], nic.body.nicid]);

    assert.deepEqual((await setState(t, w.owner.token, vmid, 'RUNNING')).body, { vmid, state: 'RUNNING' });
    assert.deepEqual((await setState(t, w.owner.token, vmid, 'STOPPED', true)).body, { vmid, state: 'STOPPED' });
    assert.equal((await t.dataSource.query('SELECT state FROM vms WHERE vmid = $1', [vmid]))[0].state, 'STOPPED');

    // The disk is attached: deleting it is refused as on SQLite.
    const inUse = await t.call({ method: 'DELETE', url: '/r/storage', token: w.owner.token, body: { stid: disk } });
    assert.deepEqual([inUse.status, inUse.body.code, inUse.body.vmid], [409, 'STORAGE_IN_USE', vmid]);

    assert.deepEqual((await t.call({ method: 'DELETE', url: '/v', token: w.owner.token, body: { vmid } })).body, { vmid });
    assert.equal((await t.call({ method: 'GET', url: '/v', token: w.owner.token, query: { vmid } })).status, 404);
    assert.equal((await t.call({ method: 'DELETE', url: '/r/storage', token: w.owner.token, body: { stid: disk } })).status, 200);
  });

  it('a name the catalog already holds is 409 VM_NAME_TAKEN, also for two concurrent creates', async () => {
    const first = await createEfiVm(t, w.owner.token, { name: 'pg-taken', catalog: w.cid });
    const again = await t.call({ method: 'PUT', url: '/v/efi', token: w.owner.token, body: { name: 'pg-taken', catalog: w.cid, cpu_count: 1, memory_size_mb: 256 } });
    assert.deepEqual([again.status, again.body.code, again.body.vmid], [409, 'VM_NAME_TAKEN', first]);
    const replies = await Promise.all(
      [1, 2].map(() => t.call({ method: 'PUT', url: '/v/efi', token: w.owner.token, body: { name: 'pg-twin', catalog: w.cid, cpu_count: 1, memory_size_mb: 256 } })),
    );
    assert.deepEqual(replies.map((r) => r.status).sort(), [200, 409]);
  });

  it('a user whose storage a VM elsewhere uses cannot be deleted: 409 GROUP_IN_USE', async () => {
    const lender = await t.createUser(w.root, 'pg-lender');
    const disk = await createDisk(t, lender.token, lender.personalGid, 'pg-lent');
    const vmid = await createEfiVm(t, w.root, { name: 'pg-borrower', catalog: w.cid, storage_devices: [disk] });
    const reply = await t.call({ method: 'DELETE', url: '/u/user', token: w.root, body: { uid: lender.uid } });
    assert.deepEqual([reply.status, reply.body.code, reply.body.vmid], [409, 'GROUP_IN_USE', vmid]);
    await t.call({ method: 'DELETE', url: '/v', token: w.owner.token, body: { vmid } });
    assert.equal((await t.call({ method: 'DELETE', url: '/u/user', token: w.root, body: { uid: lender.uid } })).status, 200);
  });

  it('the database\'s own refusals are recognised: a referenced row, a repeated unique key', async () => {
    const disk = await createDisk(t, w.owner.token, w.gid, 'pg-referenced');
    await createEfiVm(t, w.owner.token, { name: 'pg-referrer', catalog: w.cid, storage_devices: [disk] });
    const deleting = await t.dataSource.manager.delete(StorageEntity, { stid: disk }).then(() => undefined, (error: unknown) => error);
    assert.ok(isForeignKeyViolation(deleting), String(deleting));
    assert.ok(!isUniqueViolation(deleting));
    const copying = await t.dataSource.query('INSERT INTO storage SELECT * FROM storage WHERE stid = $1', [disk]).then(() => undefined, (error: unknown) => error);
    assert.ok(isUniqueViolation(copying), String(copying));
    assert.ok(!isForeignKeyViolation(copying));
  });

  it('quotas: use is counted in 64 bits; the VM over the limit is refused with 422', async () => {
    const world = await makeVmWorld(t, 'pg-quota');
    await createDisk(t, world.owner.token, world.gid, 'pg-big', 3072);
    await createEfiVm(t, world.owner.token, { name: 'pg-q1', catalog: world.cid });
    const set = await t.call({ method: 'POST', url: '/u/group/quota', token: w.root, body: { gid: world.gid, vms: 1, storage: 4096 * MiB } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const quota = await t.call({ method: 'GET', url: '/u/group/quota', token: world.owner.token, query: { gid: world.gid } });
    assert.deepEqual(quota.body.used, { vms: 1, vcpus: 1, memory: 256, storage: 3072 * MiB });
    assert.equal(quota.body.limits.storage, 4096 * MiB);
    const refused = await t.call({ method: 'PUT', url: '/v/efi', token: world.owner.token, body: { name: 'pg-q2', catalog: world.cid, cpu_count: 1, memory_size_mb: 256 } });
    assert.deepEqual([refused.status, refused.body.code, refused.body.quota], [422, 'QUOTA_EXCEEDED', 'vms']);
  });

  it('an API token works, its expiry past 2038 kept; changes leave audit records', async () => {
    const beyond2038 = 4_102_444_800; // 2100-01-01
    const token = await t.createApiToken(w.owner.token, { name: 'pg-ci', expires: beyond2038 });
    const listed = await t.call({ method: 'GET', url: '/v/list', token: token.secret, query: { cid: w.cid } });
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    const tokens = await t.call({ method: 'GET', url: '/u/token', token: w.owner.token });
    assert.equal(tokens.body.tokens.find((x: { id: string }) => x.id === token.id).expires, beyond2038);

    const created = await t.call({ method: 'PUT', url: '/v/efi', token: token.secret, body: { name: 'pg-audited', catalog: w.cid, cpu_count: 1, memory_size_mb: 256 } });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const audit = await t.call({ method: 'GET', url: '/audit', token: w.root, query: { target: created.body.vmid } });
    assert.equal(audit.status, 200, JSON.stringify(audit.body));
    const record = audit.body.records.find((r: { request_id: string }) => r.request_id === String(created.headers['x-request-id']));
    assert.ok(record, JSON.stringify(audit.body.records));
    assert.deepEqual([record.operation, record.status, record.token_id], ['createEfiVm', 200, token.id]);
  });
});
