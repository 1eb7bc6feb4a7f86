import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { TestApp } from '../support/test-app';
import { createDisk, createEfiVm, makeVmWorld, VmWorld } from '../support/vm-fixture';

const MiB = 1024 * 1024;

/**
 * Quotas per group through the real HTTP server: each limit refused at its edge with 422
 * QUOTA_EXCEEDED and nothing changed, on every path that grows a group's use (VM create,
 * change and clone; storage create, grow, clone and upload); exact counting under concurrent
 * requests; GET /u/group/quota's limits and use; the row going with its group.
 */
describe('group quotas', () => {
  let t: TestApp;
  let port: number;
  let root: string;
  let n = 0;

  before(async () => {
    t = await TestApp.start();
    port = await t.listen();
    root = await t.loginRoot();
  });
  after(() => t.close());

  /** A fresh group with a member who owns a catalog in it. */
  const freshWorld = () => makeVmWorld(t, `quota${++n}`);

  async function setQuota(gid: string, limits: Record<string, unknown>, token = root) {
    const reply = await t.call({ method: 'POST', url: '/u/group/quota', token, body: { gid, ...limits } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body;
  }

  async function quotaOf(world: VmWorld) {
    const reply = await t.call({ method: 'GET', url: '/u/group/quota', token: world.owner.token, query: { gid: world.gid } });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body;
  }

  const createVm = (world: VmWorld, name: string, cpu_count = 1, memory_size_mb = 256) =>
    t.call({ method: 'PUT', url: '/v/efi', token: world.owner.token, body: { name, catalog: world.cid, cpu_count, memory_size_mb } });

  const createStorage = (world: VmWorld, name: string, size_mb: number) =>
    t.call({ method: 'PUT', url: '/r/storage', token: world.owner.token, body: { group: world.gid, name, size_mb } });

  const listDir = (name: string) => (existsSync(join(t.config.dataDir, name)) ? readdirSync(join(t.config.dataDir, name)).sort() : []);

  /** The VM and storage rows and the files under the data directory: what a refused request must leave as it was. */
  async function snapshot(): Promise<string> {
    return JSON.stringify({
      vms: await t.dataSource.query('SELECT vmid, cid, name, cpu_count, memory_size_mb FROM vms ORDER BY vmid'),
      attachments: await t.dataSource.query('SELECT * FROM vm_storage ORDER BY vmid, position'),
      storage: await t.dataSource.query('SELECT stid, gid, size_bytes, template FROM storage ORDER BY stid'),
      storageFiles: listDir('storage'),
      vmDirs: listDir('vms'),
    });
  }

  /** Runs a request that must be refused with QUOTA_EXCEEDED for `quota`, and checks that it changed nothing. */
  async function refused(request: () => Promise<{ status: number; body: any }>, expected: { gid: string; quota: string; limit: number; used: number; requested: number }) {
    const before = await snapshot();
    const reply = await request();
    assert.equal(reply.status, 422, JSON.stringify(reply.body));
    assert.deepEqual(reply.body, { code: 'QUOTA_EXCEEDED', message: reply.body.message, ...expected });
    assert.match(reply.body.message, new RegExp(`at most ${expected.limit} .*uses ${expected.used} .*needs ${expected.requested} more`));
    assert.equal(await snapshot(), before, 'a refused request changes nothing');
  }

  it('GET shows no limits and no use for a fresh group; POST sets, keeps, clears; use follows creations and deletions', async () => {
    const world = await freshWorld();
    assert.deepEqual(await quotaOf(world), {
      gid: world.gid,
      limits: { vms: null, vcpus: null, memory: null, storage: null },
      used: { vms: 0, vcpus: 0, memory: 0, storage: 0 },
    });
    assert.deepEqual((await setQuota(world.gid, { vms: 5, memory: '4096' })).limits, { vms: 5, vcpus: null, memory: 4096, storage: null }, 'a numeric string is a number');
    assert.deepEqual((await setQuota(world.gid, { vcpus: 8, memory: null })).limits, { vms: 5, vcpus: 8, memory: null, storage: null }, 'left out keeps, null clears');

    const vm = await createEfiVm(t, world.owner.token, { name: 'a', catalog: world.cid, cpu_count: 2, memory_size_mb: 512 });
    await createEfiVm(t, world.owner.token, { name: 'b', catalog: world.cid, cpu_count: 1, memory_size_mb: 256 });
    const disk = await createDisk(t, world.owner.token, world.gid, 'disk', 3);
    await createDisk(t, world.owner.token, world.owner.personalGid, 'not-the-groups', 5);
    assert.deepEqual((await quotaOf(world)).used, { vms: 2, vcpus: 3, memory: 768, storage: 3 * MiB });

    assert.equal((await t.call({ method: 'DELETE', url: '/v', token: world.owner.token, body: { vmid: vm } })).status, 200);
    assert.equal((await t.call({ method: 'DELETE', url: '/r/storage', token: world.owner.token, body: { stid: disk } })).status, 200);
    assert.deepEqual((await quotaOf(world)).used, { vms: 1, vcpus: 1, memory: 256, storage: 0 });

    await setQuota(world.gid, { vms: null, vcpus: null });
    assert.equal(await t.count('group_quotas', 'gid = ?', [world.gid]), 0, 'a group without limits has no row');
  });

  it('vms: the last VM under the limit is created, the next one refused', async () => {
    const world = await freshWorld();
    await setQuota(world.gid, { vms: 2 });
    assert.equal((await createVm(world, 'one')).status, 200);
    assert.equal((await createVm(world, 'two')).status, 200);
    await refused(() => createVm(world, 'three'), { gid: world.gid, quota: 'vms', limit: 2, used: 2, requested: 1 });
    const kernel = await createDisk(t, world.owner.token, world.gid, 'kernel', 1);
    const kboot = () => t.call({ method: 'PUT', url: '/v/kboot', token: world.owner.token, body: { name: 'kboot', catalog: world.cid, cpu_count: 1, memory_size_mb: 256, kernel } });
    await refused(kboot, { gid: world.gid, quota: 'vms', limit: 2, used: 2, requested: 1 });
  });

  it('limits are held in memory: a limit set, raised or cleared applies to the very next request', async () => {
    const world = await freshWorld();
    assert.equal((await createVm(world, 'before')).status, 200, 'no limit yet (and "none" is now in memory)');
    await setQuota(world.gid, { vms: 1 });
    await refused(() => createVm(world, 'over'), { gid: world.gid, quota: 'vms', limit: 1, used: 1, requested: 1 });
    await setQuota(world.gid, { vms: 2 });
    assert.equal((await createVm(world, 'raised')).status, 200);
    await refused(() => createVm(world, 'over-again'), { gid: world.gid, quota: 'vms', limit: 2, used: 2, requested: 1 });
    await setQuota(world.gid, { vms: null });
    assert.equal((await createVm(world, 'cleared')).status, 200);
  });

  it('vcpus: created up to the limit exactly; a change that adds CPUs beyond it is refused, one that removes them is not', async () => {
    const world = await freshWorld();
    await setQuota(world.gid, { vcpus: 3 });
    assert.equal((await createVm(world, 'two-cpus', 2)).status, 200);
    await refused(() => createVm(world, 'two-more', 2), { gid: world.gid, quota: 'vcpus', limit: 3, used: 2, requested: 2 });
    const last = await createVm(world, 'one-cpu', 1);
    assert.equal(last.status, 200);
    const patch = (cpu_count: number) => t.call({ method: 'PATCH', url: '/v', token: world.owner.token, body: { vmid: last.body.vmid, cpu_count } });
    await refused(() => patch(2), { gid: world.gid, quota: 'vcpus', limit: 3, used: 3, requested: 1 });
    await setQuota(world.gid, { vcpus: 2 });
    assert.deepEqual((await quotaOf(world)).used.vcpus, 3, 'a limit may be set below the use');
    assert.equal((await patch(1)).status, 200, 'an unchanged CPU count passes over a lowered limit');
    await refused(() => patch(2), { gid: world.gid, quota: 'vcpus', limit: 2, used: 3, requested: 1 });
  });

  it('memory: created up to the limit exactly; a change that adds memory beyond it is refused', async () => {
    const world = await freshWorld();
    await setQuota(world.gid, { memory: 1024 });
    assert.equal((await createVm(world, 'big', 1, 768)).status, 200);
    await refused(() => createVm(world, 'too-big', 1, 512), { gid: world.gid, quota: 'memory', limit: 1024, used: 768, requested: 512 });
    const small = await createVm(world, 'small', 1, 256);
    assert.equal(small.status, 200);
    const patch = (memory_size_mb: number) => t.call({ method: 'PATCH', url: '/v', token: world.owner.token, body: { vmid: small.body.vmid, memory_size_mb } });
    await refused(() => patch(320), { gid: world.gid, quota: 'memory', limit: 1024, used: 1024, requested: 64 });
    assert.equal((await patch(128)).status, 200, 'shrinking is always allowed');
    assert.equal((await patch(256)).status, 200, 'and growing back to the limit');
  });

  it('storage: blank images up to the limit exactly; growing beyond it is refused', async () => {
    const world = await freshWorld();
    await setQuota(world.gid, { storage: 10 * MiB });
    assert.equal((await createStorage(world, 'six', 6)).status, 200);
    await refused(() => createStorage(world, 'five', 5), { gid: world.gid, quota: 'storage', limit: 10 * MiB, used: 6 * MiB, requested: 5 * MiB });
    const four = await createStorage(world, 'four', 4);
    assert.equal(four.status, 200);
    await setQuota(world.gid, { storage: 11 * MiB });
    const grow = (size_mb: number) => t.call({ method: 'PATCH', url: '/r/storage', token: world.owner.token, body: { stid: four.body.stid, size_mb } });
    await refused(() => grow(6), { gid: world.gid, quota: 'storage', limit: 11 * MiB, used: 10 * MiB, requested: 2 * MiB });
    assert.equal((await grow(5)).status, 200);
  });

  it('storage: a clone beyond the limit is refused before the copy', async () => {
    const world = await freshWorld();
    const source = await createDisk(t, world.owner.token, world.owner.personalGid, 'source', 4);
    await setQuota(world.gid, { storage: 7 * MiB });
    const clone = (name: string) => t.call({ method: 'POST', url: '/r/storage/clone', token: world.owner.token, body: { stid: source, group: world.gid, name } });
    assert.equal((await clone('first')).status, 200);
    await refused(() => clone('second'), { gid: world.gid, quota: 'storage', limit: 7 * MiB, used: 4 * MiB, requested: 4 * MiB });
  });

  it('storage: an upload beyond the limit is refused by its declared length, or when it is complete if it declared none', async () => {
    const world = await freshWorld();
    await setQuota(world.gid, { storage: 100_000 });
    const upload = (name: string, bytes: number) =>
      t.call({ method: 'POST', url: '/r/storage/upload', token: world.owner.token, query: { group: world.gid, name }, headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(bytes, 1) });
    assert.equal((await upload('sixty', 60_000)).status, 200);
    await refused(() => upload('declared', 40_001), { gid: world.gid, quota: 'storage', limit: 100_000, used: 60_000, requested: 40_001 });
    // A chunked body declares no length: it is received, then refused where its row would be committed.
    const chunked = async () => {
      const response = await fetch(`http://127.0.0.1:${port}/r/storage/upload?group=${world.gid}&name=chunked`, {
        method: 'POST',
        headers: { authorization: `Bearer ${world.owner.token}`, 'content-type': 'application/octet-stream' },
        body: Readable.toWeb(Readable.from([Buffer.alloc(30_000, 2), Buffer.alloc(20_000, 3)])) as ReadableStream,
        duplex: 'half',
      } as RequestInit);
      return { status: response.status, body: await response.json() };
    };
    await refused(chunked, { gid: world.gid, quota: 'storage', limit: 100_000, used: 60_000, requested: 50_000 });
    assert.equal((await upload('forty', 40_000)).status, 200, 'up to the limit exactly');
  });

  it('POST /v/clone: refused when the copy or its disks would pass a limit of the target catalog\'s group', async () => {
    const world = await freshWorld();
    const disk = await createDisk(t, world.owner.token, world.gid, 'disk', 3);
    const iso = await createDisk(t, world.owner.token, world.gid, 'shared', 1);
    assert.equal((await t.call({ method: 'PATCH', url: '/r/storage', token: world.owner.token, body: { stid: iso, template: true } })).status, 200);
    const vmid = await createEfiVm(t, world.owner.token, { name: 'source', catalog: world.cid, cpu_count: 2, storage_devices: [disk, iso] });
    const clone = (name: string) => t.call({ method: 'POST', url: '/v/clone', token: world.owner.token, body: { vmid, catalog: world.cid, name } });
    // Only the writable disk is copied: 3 MiB more, the template is shared.
    await setQuota(world.gid, { storage: 6 * MiB });
    await refused(() => clone('too-much-disk'), { gid: world.gid, quota: 'storage', limit: 6 * MiB, used: 4 * MiB, requested: 3 * MiB });
    await setQuota(world.gid, { storage: 7 * MiB, vcpus: 3 });
    await refused(() => clone('too-many-cpus'), { gid: world.gid, quota: 'vcpus', limit: 3, used: 2, requested: 2 });
    await setQuota(world.gid, { vcpus: 4, vms: 2 });
    assert.equal((await clone('fits')).status, 200);
    await refused(() => clone('one-too-many'), { gid: world.gid, quota: 'vms', limit: 2, used: 2, requested: 1 });
  });

  it('50 concurrent VM creations against a limit of 10 create exactly 10', async () => {
    const world = await freshWorld();
    await setQuota(world.gid, { vms: 10 });
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => createVm(world, `racer-${i}`)));
    const statuses = replies.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 10, JSON.stringify(replies.filter((r) => r.status !== 200 && r.status !== 422).map((r) => r.body)));
    assert.equal(statuses.filter((s) => s === 422).length, 40);
    assert.ok(replies.filter((r) => r.status === 422).every((r) => r.body.code === 'QUOTA_EXCEEDED' && r.body.used === 10));
    assert.equal(await t.count('vms', 'cid = ?', [world.cid]), 10);
    assert.equal((await quotaOf(world)).used.vms, 10);
  });

  it('concurrent blank images, uploads and growth against a storage limit never pass it', async () => {
    const world = await freshWorld();
    await setQuota(world.gid, { storage: 10 * MiB });
    const grown = await createStorage(world, 'grown', 1);
    const requests = [
      ...Array.from({ length: 20 }, (_, i) => createStorage(world, `blank-${i}`, 1)),
      ...Array.from({ length: 10 }, (_, i) =>
        t.call({ method: 'POST', url: '/r/storage/upload', token: world.owner.token, query: { group: world.gid, name: `up-${i}` }, headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(MiB, 4) }),
      ),
      ...[2, 3, 4].map((size_mb) => t.call({ method: 'PATCH', url: '/r/storage', token: world.owner.token, body: { stid: grown.body.stid, size_mb } })),
    ];
    const replies = await Promise.all(requests);
    // Refused for the quota, or a grow overtaken by a larger one.
    const refusals = replies.filter((r) => r.status !== 200);
    assert.deepEqual(refusals.filter((r) => r.status !== 422 || !['QUOTA_EXCEEDED', 'STORAGE_CANNOT_GROW'].includes(r.body.code)).map((r) => r.body), []);
    assert.ok(refusals.filter((r) => r.body.code === 'QUOTA_EXCEEDED').length >= 20);
    const used = (await quotaOf(world)).used.storage;
    const [{ total }] = await t.dataSource.query('SELECT SUM(size_bytes) AS total FROM storage WHERE gid = ?', [world.gid]);
    assert.equal(used, total);
    assert.equal(used, 10 * MiB, 'every MiB of the limit taken, none beyond');
    assert.equal(listDir('storage').filter((f) => f.startsWith('.')).length, 0, 'no partial file left');
  });

  it('a quota goes with its group, and with a user\'s personal group', async () => {
    const gid = await t.createGroup(root, `doomed-${++n}`);
    await setQuota(gid, { vms: 1 });
    const user = await t.createUser(root, `doomed-user-${n}`);
    await setQuota(user.personalGid, { storage: MiB });
    assert.equal((await t.call({ method: 'DELETE', url: '/u/group', token: root, body: { gid } })).status, 200);
    assert.equal((await t.call({ method: 'DELETE', url: '/u/user', token: root, body: { uid: user.uid } })).status, 200);
    assert.equal(await t.count('group_quotas', 'gid IN (?, ?)', [gid, user.personalGid]), 0);
  });

  it('refuses bad limits (400), unknown groups (404), and the root group\'s quota to a usermanager who is not root (406)', async () => {
    const world = await freshWorld();
    const bad = async (limits: Record<string, unknown>) => {
      const reply = await t.call({ method: 'POST', url: '/u/group/quota', token: root, body: { gid: world.gid, ...limits } });
      assert.equal(reply.status, 400, JSON.stringify(reply.body));
      assert.equal(reply.body.code, 'VALIDATION_FAILED');
    };
    await bad({ vms: -1 });
    await bad({ memory: 1.5 });
    await bad({ storage: 2 ** 49 + 1 });
    await bad({ disks: 3 });
    assert.equal(await t.count('group_quotas', 'gid = ?', [world.gid]), 0);
    const unknown = '00000000-0000-4000-8000-000000000000';
    for (const request of [
      { method: 'POST' as const, url: '/u/group/quota', token: root, body: { gid: unknown, vms: 1 } },
      { method: 'GET' as const, url: '/u/group/quota', token: root, query: { gid: unknown } },
    ]) {
      const reply = await t.call(request);
      assert.deepEqual([reply.status, reply.body.code], [404, 'GROUP_NOT_FOUND']);
    }
    const rootGid = await t.specialGroupId(root, 'root');
    const usermanager = await t.createUser(root, `um-${++n}`, [await t.specialGroupId(root, 'usermanager')]);
    const refusedRoot = await t.call({ method: 'POST', url: '/u/group/quota', token: usermanager.token, body: { gid: rootGid, vms: 1 } });
    assert.deepEqual([refusedRoot.status, refusedRoot.body.code], [406, 'PROTECTED_GROUP']);
    assert.equal((await setQuota(rootGid, { vms: 1000 }, root)).limits.vms, 1000, 'root may');
    assert.equal((await setQuota(world.gid, { vms: 3 }, usermanager.token)).limits.vms, 3, 'a usermanager may for any other group');
    await setQuota(rootGid, { vms: null });
  });
});
